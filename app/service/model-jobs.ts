import { ApiError, type ModelEntry } from '../contract/index.js';
import type { ModelTask, ModelTaskMessage, ModelTaskProgress } from './model-job-run.js';
import { startThread, threadEntry } from './threads.js';

// Runs a model job (model-job-run.ts) on its own worker thread, so the API keeps answering and
// progress keeps flowing while a checkpoint is converted; stopping the thread is how a job is
// cancelled. Where no thread entry is on disk (a desktop bundle without one), the job runs on
// the main thread and cannot be stopped half-way.

const entry = threadEntry('model-job-thread');

export interface RunningModelTask {
  result: Promise<ModelEntry>;
  /** Stops the thread; the result rejects with `cancelled`. False where the job cannot be stopped. */
  cancel(): boolean;
}

export function startModelTask(task: ModelTask, report: (p: ModelTaskProgress) => void): RunningModelTask {
  if (!entry) {
    const result = import('./model-job-run.js').then(({ runModelTask }) => runModelTask(task, report));
    return { result, cancel: () => false };
  }
  const worker = startThread(entry, { task });
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
