import fs from 'node:fs';
import path from 'node:path';
import envPaths from 'env-paths';

/**
 * The folder that holds the library, settings and recovery files: `ATELIER_HOME` when set
 * (tests always set it to a fresh temporary folder), else the platform's per-user data
 * folder (~/.local/share/atelier, ~/Library/Application Support/atelier, %APPDATA%\atelier).
 */
export function resolveHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.ATELIER_HOME?.trim();
  const home = fromEnv ? path.resolve(fromEnv) : envPaths('atelier', { suffix: '' }).data;
  fs.mkdirSync(home, { recursive: true });
  return home;
}
