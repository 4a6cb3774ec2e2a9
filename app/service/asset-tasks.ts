import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ApiError, type ErrorCode } from '../contract/index.js';
import type { LoraUse } from '../engine/checkpoint/index.js';

// Runs the work a run's LoRAs, embeddings and swapped VAE need (asset-thread.ts) on a worker
// thread, one thread per task: LoRA deltas are seconds of JavaScript arithmetic for a large
// set (docs/models.md, bench:models) that would otherwise freeze the service's API.

export type AssetTask =
  | { kind: 'loras'; base: string; loras: LoraUse[]; cacheRoot: string }
  | { kind: 'embeddings'; base: string; embeddings: { file: string; name: string }[]; cacheRoot: string }
  | { kind: 'vae'; base: string; vae: string; sha256: string; cacheRoot: string };

export type AssetResult =
  | { kind: 'loras'; dir: string; cached: boolean; unmatched: Record<string, string[]> }
  | { kind: 'embeddings'; dir: string; replacements: Record<string, string> }
  | { kind: 'vae'; dir: string; cached: boolean };

type Reply = { ok: true; result: AssetResult } | { ok: false; error: { code: ErrorCode; message: string; details?: unknown } };

const here = fileURLToPath(import.meta.url);
const ext = path.extname(here);
// Beside this file (the sources, or a build that keeps the layout); in the desktop bundle,
// where import.meta.url names this file's source place under the app root, the entry
// scripts/build-electron.mjs writes beside the engine worker's.
const appRoot = path.resolve(path.dirname(here), '..', '..');
const entry = [path.join(path.dirname(here), `asset-thread${ext}`), path.join(appRoot, 'dist-electron', 'app', 'service', 'asset-thread.cjs')].find((f) => fs.existsSync(f));

/** A worker for the entry: built .js runs as it is; the .ts sources through tsx's loader, as the CLI does (bin/atelier.mjs). */
function startWorker(entry: string, task: AssetTask): Worker {
  if (!entry.endsWith('.ts')) return new Worker(entry, { workerData: { task } });
  // require.resolve finds tsx's CommonJS build; the worker imports its ESM twin beside it.
  const tsx = pathToFileURL(createRequire(here).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(entry).href)}); })`;
  return new Worker(boot, { eval: true, workerData: { task } });
}

/**
 * Runs one task on its own worker thread; failures come back as the ApiError the engine threw.
 * Where no thread entry is on disk (a desktop bundle built without it), the task runs here,
 * on the main thread.
 */
export async function runAssetTask<K extends AssetTask['kind']>(task: Extract<AssetTask, { kind: K }>): Promise<Extract<AssetResult, { kind: K }>> {
  if (!entry) {
    const { run } = await import('./asset-run.js');
    return (await run(task)) as Extract<AssetResult, { kind: K }>;
  }
  return new Promise((resolve, reject) => {
    const worker = startWorker(entry, task);
    let settled = false;
    worker.once('message', (reply: Reply) => {
      settled = true;
      if (reply.ok) resolve(reply.result as Extract<AssetResult, { kind: K }>);
      else reject(new ApiError(reply.error.code, reply.error.message, reply.error.details));
      void worker.terminate();
    });
    worker.once('error', (error) => {
      if (settled) return;
      settled = true;
      reject(new ApiError('engine_failed', `preparing the model's ${task.kind} failed: ${error.message}`));
    });
    worker.once('exit', (code) => {
      if (settled) return;
      settled = true;
      reject(new ApiError('engine_failed', `preparing the model's ${task.kind} stopped (worker thread exited with code ${code})`));
    });
  });
}
