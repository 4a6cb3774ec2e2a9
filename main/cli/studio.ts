import { type StudioService, createStudio } from '../../app/service/index.js';

/**
 * Runs one CLI command against the StudioService (the CLI's door) under ATELIER_HOME or the
 * per-user data folder, and closes it however the command ends.
 */
export async function withStudio<T>(fn: (studio: StudioService) => Promise<T>): Promise<T> {
  const studio = await createStudio({ transport: 'cli' });
  try {
    return await fn(studio);
  } finally {
    await studio.close();
  }
}
