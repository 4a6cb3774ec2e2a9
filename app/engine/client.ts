import { ApiError, type GenerationRequest } from '../contract/index.js';
import type { PipelineImages, PipelineProgress, PipelineResult } from './pipeline/types.js';
import { forkTransportFactory } from './worker/fork.js';
import type { EngineTransport, EngineTransportFactory, FromWorker, ToWorker } from './worker/protocol.js';

export interface GenerateOptions {
  /** The model is loaded (or was reused) on this execution provider; steps follow. */
  onLoaded?: (info: { device: string; reused: boolean }) => void;
  onProgress?: (progress: PipelineProgress) => void;
  signal?: AbortSignal;
}

export interface EngineClientOptions {
  /** How to start a worker; defaults to a forked Node child process. */
  transport?: EngineTransportFactory;
  /**
   * After a cancel, how long the worker may take to stop at the next step before it is
   * killed (a long native op cannot be interrupted any other way). Default 30 s.
   */
  cancelGraceMs?: number;
  /**
   * Stop the worker after this long without a job, which hands all of the model's memory
   * back (ORT's arenas do not always shrink on release); the next job starts a fresh worker.
   * Default 10 minutes; 0 keeps it forever.
   */
  idleStopMs?: number;
  /**
   * Where every worker this client starts caches ONNX Runtime's optimised graphs
   * (model/ort-cache.ts; the studio's is `<home>/cache/ort`). Unset: no cache, unless the
   * worker's environment names one (ATELIER_ORT_CACHE).
   */
  ortCacheDir?: string;
}

interface Pending {
  jobId: string;
  resolve(result: PipelineResult): void;
  reject(error: ApiError): void;
  onProgress?: (progress: PipelineProgress) => void;
  onLoaded?: (info: { device: string; reused: boolean }) => void;
}

interface Worker {
  transport: EngineTransport;
  ready: boolean;
  exited: boolean;
  backlog: ToWorker[];
  exitWaiters: Array<() => void>;
}

/**
 * The studio's handle on the engine worker process: one job at a time, started lazily, and
 * restarted after a crash — a job whose worker dies fails with `engine_failed`, the next job
 * gets a fresh worker.
 */
export class EngineClient {
  private worker: Worker | undefined;
  private pending: Pending | undefined;
  private releaseWaiters: Array<() => void> = [];
  private nextJob = 1;
  private closed = false;
  private readonly transport: EngineTransportFactory;
  private readonly cancelGraceMs: number;
  private readonly idleStopMs: number;
  private readonly ortCacheDir: string | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Workers started so far (a crash makes the next job start another). */
  workersStarted = 0;

  constructor(options: EngineClientOptions = {}) {
    this.transport = options.transport ?? forkTransportFactory();
    this.cancelGraceMs = options.cancelGraceMs ?? 30_000;
    this.idleStopMs = options.idleStopMs ?? 10 * 60_000;
    this.ortCacheDir = options.ortCacheDir;
  }

  /** Whether a worker process is running now. */
  get hasWorker(): boolean {
    return this.worker !== undefined && !this.worker.exited;
  }

  get busy(): boolean {
    return this.pending !== undefined;
  }

  generate(request: GenerationRequest, images: PipelineImages, options: GenerateOptions = {}): Promise<PipelineResult> {
    if (this.closed) return Promise.reject(new ApiError('engine_failed', 'The engine client is closed'));
    if (this.pending) return Promise.reject(new ApiError('busy', 'The engine is already running a job'));
    if (options.signal?.aborted) return Promise.reject(new ApiError('cancelled', 'Cancelled before it started'));
    const jobId = `job-${this.nextJob++}`;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const worker = this.ensureWorker();
    return new Promise<PipelineResult>((resolve, reject) => {
      let graceTimer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        this.post(worker, { type: 'cancel', jobId });
        graceTimer = setTimeout(() => {
          if (this.pending?.jobId !== jobId) return;
          this.fail(new ApiError('cancelled', `Cancelled; the engine did not stop within ${this.cancelGraceMs} ms and was restarted`));
          worker.transport.kill();
        }, this.cancelGraceMs);
        graceTimer.unref?.();
      };
      const settle = () => {
        options.signal?.removeEventListener('abort', onAbort);
        if (graceTimer) clearTimeout(graceTimer);
        this.pending = undefined;
        this.armIdleStop();
      };
      this.pending = {
        jobId,
        onProgress: options.onProgress,
        onLoaded: options.onLoaded,
        resolve: (result) => {
          settle();
          resolve(result);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.post(worker, { type: 'generate', jobId, request, images });
    });
  }

  /** Frees the worker's cached model (keeps the process). */
  async release(): Promise<void> {
    const worker = this.worker;
    if (!worker || worker.exited) return;
    await new Promise<void>((resolve) => {
      this.releaseWaiters.push(resolve);
      this.post(worker, { type: 'release' });
    });
  }

  /** Test-only: asks a worker started with the test hooks to die. */
  crashWorkerForTest(how: 'abort' | 'kill' | 'exit'): void {
    const worker = this.worker ?? this.ensureWorker();
    this.post(worker, { type: 'test.crash', how });
  }

  /** Stops the worker; a running job fails as cancelled. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.fail(new ApiError('cancelled', 'The studio is closing'));
    if (!worker || worker.exited) return;
    const exited = new Promise<void>((resolve) => worker.exitWaiters.push(resolve));
    worker.transport.kill();
    await exited;
  }

  private armIdleStop(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.idleStopMs <= 0) return;
    this.idleTimer = setTimeout(() => {
      const worker = this.worker;
      if (!this.pending && worker && !worker.exited) worker.transport.kill();
    }, this.idleStopMs);
    this.idleTimer.unref?.();
  }

  private ensureWorker(): Worker {
    if (this.worker && !this.worker.exited) return this.worker;
    const transport = this.transport();
    this.workersStarted++;
    const worker: Worker = { transport, ready: false, exited: false, backlog: [], exitWaiters: [] };
    this.worker = worker;
    transport.on('message', (message) => this.onMessage(worker, message));
    // first in the backlog, so in force before any job
    if (this.ortCacheDir) this.post(worker, { type: 'configure', settings: { ortCacheDir: this.ortCacheDir } });
    transport.on('exit', (code, signal) => {
      worker.exited = true;
      if (this.worker === worker) this.worker = undefined;
      for (const waiter of worker.exitWaiters.splice(0)) waiter();
      for (const waiter of this.releaseWaiters.splice(0)) waiter();
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const tail = transport.stderrTail?.().trim().split('\n').slice(-3).join(' | ');
      this.fail(new ApiError('engine_failed', `The engine process ${how} (a crash or running out of memory); the next job starts a fresh one${tail ? `. Last output: ${tail}` : ''}`, { code, signal }));
    });
    return worker;
  }

  private post(worker: Worker, message: ToWorker): void {
    // The worker may drop messages that arrive before it listens: hold them until it says ready.
    if (worker.ready) worker.transport.postMessage(message);
    else worker.backlog.push(message);
  }

  private onMessage(worker: Worker, message: FromWorker): void {
    switch (message.type) {
      case 'ready':
        worker.ready = true;
        for (const m of worker.backlog.splice(0)) worker.transport.postMessage(m);
        return;
      case 'loaded':
        if (this.pending?.jobId === message.jobId) this.pending.onLoaded?.({ device: message.device, reused: message.reused });
        return;
      case 'progress':
        if (this.pending?.jobId === message.jobId) this.pending.onProgress?.(message.progress);
        return;
      case 'result':
        if (this.pending?.jobId === message.jobId) this.pending.resolve(message.result);
        return;
      case 'error':
        if (message.jobId === undefined || this.pending?.jobId === message.jobId) {
          this.fail(new ApiError(message.error.code, message.error.message, message.error.details));
        }
        return;
      case 'released':
        for (const waiter of this.releaseWaiters.splice(0)) waiter();
        return;
    }
  }

  private fail(error: ApiError): void {
    this.pending?.reject(error);
  }
}
