import { parentPort, workerData } from 'node:worker_threads';
import { ApiError } from '../contract/index.js';
// Only the modules the tasks need, so that a thread starts quickly.
import { applyEmbeddings, readEmbedding } from '../engine/checkpoint/embeddings.js';
import { applyLoras } from '../engine/checkpoint/lora-apply.js';
import { swapVae } from '../engine/checkpoint/vae-swap.js';
import type { AssetResult, AssetTask } from './asset-tasks.js';

// A worker thread's entry (asset-tasks.ts starts it): the arithmetic and copying that LoRAs,
// embeddings and a swapped VAE need before a run, done off the service's main thread so
// that the API keeps answering while a large set is patched (docs/models.md, "Where the work runs").

async function run(task: AssetTask): Promise<AssetResult> {
  switch (task.kind) {
    case 'loras': {
      const patched = await applyLoras(task.base, task.loras, task.cacheRoot);
      return { kind: 'loras', dir: patched.dir, cached: patched.cached, unmatched: patched.unmatched };
    }
    case 'embeddings': {
      const embedded = await applyEmbeddings(task.base, task.embeddings.map((e) => readEmbedding(e.file, e.name)), task.cacheRoot);
      return { kind: 'embeddings', dir: embedded.dir, replacements: embedded.replacements };
    }
    case 'vae': {
      const swapped = swapVae(task.base, task.vae, { sha256: task.sha256, cacheRoot: task.cacheRoot });
      return { kind: 'vae', dir: swapped.dir, cached: swapped.cached };
    }
  }
}

const task = (workerData as { task: AssetTask }).task;
run(task).then(
  (result) => parentPort!.postMessage({ ok: true, result }),
  (error: unknown) => {
    // Errors cross the thread as plain data; asset-tasks.ts makes them ApiErrors again.
    const e = error instanceof ApiError ? { code: error.code, message: error.message, details: error.details } : { code: 'engine_failed', message: error instanceof Error ? error.message : String(error) };
    parentPort!.postMessage({ ok: false, error: e });
  },
);
