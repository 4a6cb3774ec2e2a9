import { parentPort, workerData } from 'node:worker_threads';
import { ApiError } from '../contract/index.js';
import { run } from './asset-run.js';
import type { AssetTask } from './asset-tasks.js';

// A worker thread's entry (asset-tasks.ts starts it): the arithmetic and copying that LoRAs,
// embeddings and a swapped VAE need before a run (asset-run.ts), done off the service's main
// thread so that the API keeps answering while a large set is patched (docs/models.md).

const task = (workerData as { task: AssetTask }).task;
run(task).then(
  (result) => parentPort!.postMessage({ ok: true, result }),
  (error: unknown) => {
    // Errors cross the thread as plain data; asset-tasks.ts makes them ApiErrors again.
    const e = error instanceof ApiError ? { code: error.code, message: error.message, details: error.details } : { code: 'engine_failed', message: error instanceof Error ? error.message : String(error) };
    parentPort!.postMessage({ ok: false, error: e });
  },
);
