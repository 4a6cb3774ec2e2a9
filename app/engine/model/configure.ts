import { configureSessions, sessionTuning } from './session.js';
import { ORT_CACHE_ENV, ortCacheLimit, pruneOrtCache, type EngineSettings, type PruneResult } from './ort-cache.js';

// The engine worker's side of EngineClient's settings (worker/host.ts 'configure').

/**
 * Applies the studio's settings in the engine worker: the optimised-graph cache folder (unless
 * the environment chose one, or '' for none), pruned to its bound. Returns the folder in use.
 */
export function configureEngine(settings: EngineSettings, env: NodeJS.ProcessEnv = process.env): { ortCacheDir?: string; prune?: PruneResult } {
  const fromEnv = env[ORT_CACHE_ENV];
  const dir = fromEnv !== undefined ? fromEnv.trim() || undefined : settings.ortCacheDir;
  if (!dir) return {};
  if (fromEnv === undefined) configureSessions({ ...sessionTuning(), cacheDir: dir });
  return { ortCacheDir: dir, prune: pruneOrtCache(dir, ortCacheLimit(env)) };
}
