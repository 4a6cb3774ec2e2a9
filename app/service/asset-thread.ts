import { parentPort } from 'node:worker_threads';
import { ApiError } from '../contract/index.js';
import { run } from './asset-run.js';
import type { AssetTask } from './asset-tasks.js';

// The asset worker thread's entry (asset-tasks.ts starts it once and keeps it): the arithmetic
// and copying that LoRAs, embeddings and a swapped VAE need before a run (asset-run.ts), done
// off the service's main thread so that the API keeps answering while a large set is patched
// (docs/models.md, "Where the work runs"). Tasks run one after another: two runs preparing the
// same cache folder at once would step on each other.

let queue: Promise<unknown> = Promise.resolve();

parentPort!.on('message', ({ id, task }: { id: number; task: AssetTask }) => {
  queue = queue.then(() =>
    run(task).then(
      (result) => parentPort!.postMessage({ id, ok: true, result }),
      (error: unknown) => {
        // Errors cross the thread as plain data; asset-tasks.ts makes them ApiErrors again.
        const e = error instanceof ApiError ? { code: error.code, message: error.message, details: error.details } : { code: 'engine_failed', message: error instanceof Error ? error.message : String(error) };
        parentPort!.postMessage({ id, ok: false, error: e });
      },
    ),
  );
});
