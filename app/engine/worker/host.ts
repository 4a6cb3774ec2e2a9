import { ApiError, type GenerationRequest } from '../../contract/index.js';
import type { EngineSettings } from '../model/ort-cache.js';
import type { LoadModel, LoadedModel, PipelineImages, RunPipeline } from '../pipeline/types.js';
import type { FromWorker, ToWorker, WorkerError } from './protocol.js';

/** The engine functions the worker needs (app/engine/index.ts, or a stand-in in tests). */
export interface EngineModule {
  loadModel: LoadModel;
  runPipeline: RunPipeline;
  /** Applies the studio's settings (the real engine's configureEngine); a stand-in may lack it. */
  configureEngine?: (settings: EngineSettings) => unknown;
}

interface CachedModel {
  key: string;
  model: LoadedModel;
}

/**
 * The worker's brain, free of any process plumbing: runs one job at a time, keeps the last
 * loaded model (same folder + device + ControlNets → reuse, anything else → release it
 * first, so two models never sit in memory together), and turns every failure into a typed
 * error. Cancellation aborts the job's signal; the pipeline honours it between steps.
 */
export class EngineHost {
  private cached: CachedModel | undefined;
  private loading: Promise<LoadedModel> | undefined;
  /** The job in progress; `step` is the last step reported, `cancelledAfterStep` the step when a cancel arrived. */
  private running: { jobId: string; abort: AbortController; step: number; cancelledAfterStep?: number } | undefined;

  constructor(
    private readonly engine: EngineModule,
    private readonly send: (message: FromWorker) => void,
  ) {}

  /** Models loaded so far (tests and diagnostics read it to prove reuse). */
  loads = 0;

  handle(message: ToWorker): void {
    switch (message.type) {
      case 'generate':
        void this.generate(message.jobId, message.request, message.images);
        return;
      case 'cancel':
        if (this.running?.jobId === message.jobId && !this.running.abort.signal.aborted) {
          this.running.cancelledAfterStep = this.running.step;
          this.running.abort.abort();
        }
        return;
      case 'release':
        void this.release().then(() => this.send({ type: 'released' }));
        return;
      case 'configure':
        // synchronous, so that it is in force for the generate message behind it
        try {
          this.engine.configureEngine?.(message.settings);
        } catch (error) {
          // a cache that cannot be set up costs speed, not the job
          console.error(`atelier engine worker: settings not applied: ${error instanceof Error ? error.message : String(error)}`);
        }
        return;
      case 'test.crash':
        return; // handled by the process wrapper, which alone may kill the process
    }
  }

  private async generate(jobId: string, request: GenerationRequest, images: PipelineImages): Promise<void> {
    if (this.running) {
      this.send({ type: 'error', jobId, error: { code: 'busy', message: `The engine is already running job ${this.running.jobId}` } });
      return;
    }
    const abort = new AbortController();
    const running: NonNullable<EngineHost['running']> = { jobId, abort, step: 0 };
    this.running = running;
    try {
      const loadsBefore = this.loads;
      const model = await this.modelFor(request);
      if (abort.signal.aborted) throw new ApiError('cancelled', 'Cancelled before the first step');
      this.send({ type: 'loaded', jobId, device: model.device, reused: this.loads === loadsBefore });
      const result = await this.engine.runPipeline(model, request, images, {
        signal: abort.signal,
        onProgress: (progress) => {
          running.step = progress.candidateIndex * progress.totalSteps + progress.step;
          this.send({ type: 'progress', jobId, progress });
        },
      });
      if (abort.signal.aborted) throw new ApiError('cancelled', 'Cancelled');
      this.send({ type: 'result', jobId, result });
    } catch (error) {
      const reported = toWorkerError(error, abort.signal.aborted);
      // How far the job ran after the cancel arrived: the proof that cancelling stops within a step.
      if (reported.code === 'cancelled' && running.cancelledAfterStep !== undefined) reported.details = { cancelledAfterStep: running.cancelledAfterStep, lastStep: running.step };
      this.send({ type: 'error', jobId, error: reported });
    } finally {
      this.running = undefined;
    }
  }

  private async modelFor(request: GenerationRequest): Promise<LoadedModel> {
    const controlnets = [...new Set(request.controls.map((c) => c.model))].sort();
    const key = JSON.stringify([request.model, request.device, controlnets]);
    if (this.cached?.key === key) return this.cached.model;
    await this.release();
    this.loading = this.engine.loadModel(request.model, { device: request.device, controlnets });
    try {
      const model = await this.loading;
      this.loads++;
      this.cached = { key, model };
      return model;
    } finally {
      this.loading = undefined;
    }
  }

  async release(): Promise<void> {
    const cached = this.cached;
    this.cached = undefined;
    if (cached) await cached.model.release();
  }
}

export function toWorkerError(error: unknown, aborted = false): WorkerError {
  if (aborted || (error instanceof Error && error.name === 'AbortError')) {
    return { code: 'cancelled', message: error instanceof ApiError && error.code === 'cancelled' ? error.message : 'Cancelled' };
  }
  if (error instanceof ApiError) {
    return error.details === undefined ? { code: error.code, message: error.message } : { code: error.code, message: error.message, details: error.details };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'engine_failed', message: `The engine failed: ${message}` };
}
