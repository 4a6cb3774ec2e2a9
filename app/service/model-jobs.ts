import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ApiError, type ModelEntry } from '../contract/index.js';
import type { ModelTask, ModelTaskMessage, ModelTaskProgress } from './model-job-run.js';

// Runs a model job (model-job-run.ts) on its own worker thread, so the API keeps answering and
// progress keeps flowing while a checkpoint is converted; stopping the thread is how a job is
// cancelled. Where no thread entry is on disk (a desktop bundle without one), the job runs on
// the main thread and cannot be stopped half-way.

const here = fileURLToPath(import.meta.url);
const ext = path.extname(here);
// Beside this file (the sources), or in the desktop bundle where scripts/build-electron.mjs
// writes it beside the engine worker's (as asset-tasks.ts finds its thread).
const appRoot = path.resolve(path.dirname(here), '..', '..');
const entry = [path.join(path.dirname(here), `model-job-thread${ext}`), path.join(appRoot, 'dist-electron', 'app', 'service', 'model-job-thread.cjs')].find((f) => fs.existsSync(f));

export interface RunningModelTask {
  result: Promise<ModelEntry>;
  /** Stops the thread; the result rejects with `cancelled`. False where the job cannot be stopped. */
  cancel(): boolean;
}

function startWorker(file: string, task: ModelTask): Worker {
  if (!file.endsWith('.ts')) return new Worker(file, { workerData: { task } });
  // The sources run through tsx's ESM loader, registered in the thread before the entry loads (as asset-tasks.ts does).
  const tsx = pathToFileURL(createRequire(here).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(file).href)}); })`;
  return new Worker(boot, { eval: true, workerData: { task } });
}

export function startModelTask(task: ModelTask, report: (p: ModelTaskProgress) => void): RunningModelTask {
  if (!entry) {
    const result = import('./model-job-run.js').then(({ runModelTask }) => runModelTask(task, report));
    return { result, cancel: () => false };
  }
  const worker = startWorker(entry, task);
  let cancelled = false;
  const result = new Promise<ModelEntry>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
      void worker.terminate();
    };
    worker.on('message', (message: ModelTaskMessage) => {
      if (message.type === 'progress') report(message.progress);
      else if (message.type === 'done') settle(() => resolve(message.result));
      else settle(() => reject(new ApiError(message.error.code, message.error.message, message.error.details)));
    });
    worker.once('error', (error) => settle(() => reject(new ApiError('internal', `the model job's thread failed: ${error.message}`))));
    worker.once('exit', (code) => settle(() => reject(cancelled ? new ApiError('cancelled', 'Cancelled') : new ApiError('internal', `the model job's thread exited (code ${code})`))));
  });
  return {
    result,
    cancel: () => {
      cancelled = true;
      void worker.terminate();
      return true;
    },
  };
}
