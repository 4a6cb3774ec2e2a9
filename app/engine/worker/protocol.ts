import type { ErrorCode, GenerationRequest } from '../../contract/index.js';
import type { EngineSettings } from '../model/ort-cache.js';
import type { PipelineImages, PipelineProgress, PipelineResult } from '../pipeline/types.js';

// The one contract between the studio process and the engine worker. Messages travel by
// structured clone (child_process 'advanced' serialization, or Electron's utilityProcess), so
// typed arrays (RGBA pixels) cross without base64.

/** The env var that enables test-only messages (crash simulation) in the worker. Never set it in production. */
export const WORKER_TEST_HOOKS_ENV = 'ATELIER_WORKER_TEST_HOOKS';

export type ToWorker =
  /** `request.model` and every `controls[].model` are folder paths here, already resolved by the service. */
  | { type: 'generate'; jobId: string; request: GenerationRequest; images: PipelineImages }
  | { type: 'cancel'; jobId: string }
  /** Sent first to every worker the studio starts: where to cache optimised graphs (model/ort-cache.ts). */
  | { type: 'configure'; settings: EngineSettings }
  /** Free the cached model's sessions (memory back to the system); replies 'released'. */
  | { type: 'release' }
  /**
   * Test-only (honoured only when WORKER_TEST_HOOKS_ENV is '1'): die like a native crash
   * (abort → SIGABRT, may leave a core file where core dumps are on), the OOM killer
   * (kill → SIGKILL) or a fatal exit would.
   */
  | { type: 'test.crash'; how: 'abort' | 'kill' | 'exit' };

export interface WorkerError {
  code: ErrorCode;
  message: string;
  details?: unknown;
}

export type FromWorker =
  | { type: 'ready'; pid: number }
  /** The job's model is loaded (or reused) and its first step is about to run. */
  | { type: 'loaded'; jobId: string; device: string; reused: boolean }
  | { type: 'progress'; jobId: string; progress: PipelineProgress }
  | { type: 'result'; jobId: string; result: PipelineResult }
  | { type: 'error'; jobId?: string; error: WorkerError }
  | { type: 'released' };

/**
 * How the client reaches a worker process: a forked Node child here, Electron's
 * utilityProcess on the desktop (its UtilityProcess has this very shape).
 */
export interface EngineTransport {
  postMessage(message: ToWorker): void;
  on(event: 'message', listener: (message: FromWorker) => void): void;
  on(event: 'exit', listener: (code: number | null, signal?: string | null) => void): void;
  kill(): boolean;
  /** Last lines the worker wrote to stderr, when the transport captures them (crash reports). */
  stderrTail?(): string;
}

export type EngineTransportFactory = () => EngineTransport;
