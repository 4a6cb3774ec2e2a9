import { parentPort, workerData } from 'node:worker_threads';
import { ApiError } from '../contract/index.js';
import { runModelTask, type ModelTask, type ModelTaskMessage } from './model-job-run.js';

// A worker thread's entry (model-jobs.ts starts one per import or download): converting a
// checkpoint is seconds to minutes of synchronous file and graph work, which on the service's
// main thread would stop the API and the event stream for as long (docs/models.md,
// "The model manager"). Progress and the outcome go back as messages.

const post = (message: ModelTaskMessage) => parentPort!.postMessage(message);
runModelTask((workerData as { task: ModelTask }).task, (progress) => post({ type: 'progress', progress })).then(
  (result) => post({ type: 'done', result }),
  (error: unknown) => {
    // Errors cross the thread as plain data; model-jobs.ts makes them ApiErrors again.
    const e = error instanceof ApiError ? { code: error.code, message: error.message, details: error.details } : { code: 'internal' as const, message: error instanceof Error ? error.message : String(error) };
    post({ type: 'error', error: e });
  },
);
