import { libraryHandlers, openStudioLibrary } from './library-handlers.js';
import { projectsArea } from './projects-handlers.js';
import { StudioService, type StudioServiceOptions } from './studio.js';

export { StudioService, toApiError } from './studio.js';
export type { ServiceContext, Transport } from './context.js';
export { resolveHome } from './home.js';
export { APP_VERSION } from './version.js';
export { libraryHandlers, openStudioLibrary } from './library-handlers.js';

/**
 * The studio with every area plugged in: the one place that decides what a door serves.
 * Areas register their handlers (and cleanup) on the service here.
 */
export async function createStudio(options: StudioServiceOptions): Promise<StudioService> {
  const service = new StudioService(options);
  // Library: the history under <home>/library; other areas record into this instance.
  const library = openStudioLibrary(service.ctx.home);
  service.register(libraryHandlers(library), () => library.close());
  // Projects: open documents, safe saving, autosave and crash recovery, exports and imports.
  const projects = projectsArea(service.ctx);
  service.register(projects.handlers, projects.close);
  return service;
}
