import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

// The service's worker threads (asset-tasks.ts: LoRAs, embeddings, VAE swaps; model-jobs.ts:
// imports and downloads): where their entry files are, and how a thread starts on one.

const here = fileURLToPath(import.meta.url);
const ext = path.extname(here);
const appRoot = path.resolve(path.dirname(here), '..', '..');

/**
 * The entry file of the thread `name` (e.g. "asset-thread"): beside this file (the sources, or
 * a build that keeps the layout), or in the desktop bundle, where import.meta.url names this
 * file's source place under the app root and scripts/build-electron.mjs writes the entries
 * beside the engine worker's. Undefined where neither is on disk.
 */
export function threadEntry(name: string): string | undefined {
  return [path.join(path.dirname(here), `${name}${ext}`), path.join(appRoot, 'dist-electron', 'app', 'service', `${name}.cjs`)].find((f) => fs.existsSync(f));
}

/** A worker on `entry`: built JavaScript runs as it is; the .ts sources through tsx's loader, registered in the thread before the entry loads (as bin/atelier.mjs does for the CLI). */
export function startThread(entry: string, workerData?: unknown): Worker {
  const data = workerData === undefined ? {} : { workerData };
  if (!entry.endsWith('.ts')) return new Worker(entry, data);
  // require.resolve finds tsx's CommonJS build; the worker imports its ESM twin beside it.
  const tsx = pathToFileURL(createRequire(here).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(entry).href)}); })`;
  return new Worker(boot, { eval: true, ...data });
}
