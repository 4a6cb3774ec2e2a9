import type { Worker } from 'node:worker_threads';
import { ApiError, type ErrorCode } from '../contract/index.js';
import type { LoraUse } from '../engine/checkpoint/index.js';
import { startThread, threadEntry } from './threads.js';

// Runs the work a run's LoRAs, embeddings and swapped VAE need (asset-thread.ts) on a worker
// thread, kept for the next task: LoRA deltas are seconds of JavaScript arithmetic for a large
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

const entry = threadEntry('asset-thread');

interface Waiting {
  kind: AssetTask['kind'];
  resolve(result: AssetResult): void;
  reject(error: ApiError): void;
}

/**
 * The one asset thread, started on first use and kept (starting one costs about a second
 * under tsx, too much to pay per live preview). It keeps the process alive only while a task
 * is waiting for it (ref'd then, unref'd when idle). A thread that dies fails what it was
 * doing, and the next task starts another.
 */
let thread: { worker: Worker; waiting: Map<number, Waiting> } | undefined;
let nextId = 1;

function assetThread(entry: string): NonNullable<typeof thread> {
  if (thread) return thread;
  const worker = startThread(entry);
  const current = { worker, waiting: new Map<number, Waiting>() };
  const failAll = (why: string) => {
    if (thread === current) thread = undefined;
    for (const w of current.waiting.values()) w.reject(new ApiError('engine_failed', `preparing the model's ${w.kind} failed: ${why}`));
    current.waiting.clear();
  };
  worker.on('message', (reply: Reply & { id: number }) => {
    const w = current.waiting.get(reply.id);
    if (!w) return;
    current.waiting.delete(reply.id);
    if (current.waiting.size === 0) worker.unref();
    if (reply.ok) w.resolve(reply.result);
    else w.reject(new ApiError(reply.error.code, reply.error.message, reply.error.details));
  });
  worker.on('error', (error) => failAll(error.message));
  worker.on('exit', (code) => failAll(`the asset thread exited with code ${code}`));
  worker.unref();
  thread = current;
  return current;
}

/**
 * Runs one task on the asset thread; failures come back as the ApiError the engine threw.
 * Where no thread entry is on disk (a desktop bundle built without it), the task runs here,
 * on the main thread.
 */
export async function runAssetTask<K extends AssetTask['kind']>(task: Extract<AssetTask, { kind: K }>): Promise<Extract<AssetResult, { kind: K }>> {
  if (!entry) {
    const { run } = await import('./asset-run.js');
    return (await run(task)) as Extract<AssetResult, { kind: K }>;
  }
  const { worker, waiting } = assetThread(entry);
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { kind: task.kind, resolve: (r) => resolve(r as Extract<AssetResult, { kind: K }>), reject });
    worker.ref();
    worker.postMessage({ id, task });
  });
}

/** Stops the asset thread (tests; the studio's own exit does not need it: an idle thread is unref'd). */
export async function stopAssetThread(): Promise<void> {
  const current = thread;
  thread = undefined;
  if (current) await current.worker.terminate();
}
