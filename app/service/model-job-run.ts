import type { ErrorCode, ModelEntry } from '../contract/index.js';
import type { ImportProgress } from '../engine/checkpoint/index.js';
import { downloadModel, type DownloadProgress, type ModelDownloadRequest } from './model-download.js';
import { importModel, type ModelImportRequest } from './model-import.js';

// The work of one model job, wherever it runs (a worker thread, or the main thread where no
// thread entry is on disk): an import of a file or folder, or a Hub download (and its import).

export type ModelTask =
  | { kind: 'import'; request: Omit<ModelImportRequest, 'onProgress'> }
  | { kind: 'download'; request: Omit<ModelDownloadRequest, 'onProgress' | 'onImportProgress'> };

export type ModelTaskProgress = { phase: 'import'; progress: ImportProgress } | { phase: 'download'; progress: DownloadProgress };

export type ModelTaskMessage =
  | { type: 'progress'; progress: ModelTaskProgress }
  | { type: 'done'; result: ModelEntry }
  | { type: 'error'; error: { code: ErrorCode; message: string; details?: unknown } };

export async function runModelTask(task: ModelTask, report: (p: ModelTaskProgress) => void): Promise<ModelEntry> {
  const onImport = (progress: ImportProgress) => report({ phase: 'import', progress });
  if (task.kind === 'import') return (await importModel({ ...task.request, onProgress: onImport })).entry;
  const { entry } = await downloadModel({ ...task.request, onProgress: (progress) => report({ phase: 'download', progress }), onImportProgress: onImport });
  return entry;
}
