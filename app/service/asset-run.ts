// Only the modules the tasks need, so that a worker thread starts quickly.
import { applyEmbeddings, readEmbedding } from '../engine/checkpoint/embeddings.js';
import { applyLoras } from '../engine/checkpoint/lora-apply.js';
import { swapVae } from '../engine/checkpoint/vae-swap.js';
import type { AssetResult, AssetTask } from './asset-tasks.js';

// What each asset task does (asset-tasks.ts): run on a worker thread by asset-thread.ts.

export async function run(task: AssetTask): Promise<AssetResult> {
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
