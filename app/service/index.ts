import { StudioService, type StudioServiceOptions } from './studio.js';

export { StudioService, toApiError } from './studio.js';
export type { ServiceContext, Transport } from './context.js';
export { resolveHome } from './home.js';
export { APP_VERSION } from './version.js';

/**
 * The studio with every area plugged in: the one place that decides what a door serves.
 * Areas register their handlers (and cleanup) on the service here.
 */
export async function createStudio(options: StudioServiceOptions): Promise<StudioService> {
  const service = new StudioService(options);
  return service;
}
