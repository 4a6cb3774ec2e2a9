import { ApiError, type CandidateSummary, type GenerationRequest, type generationMethods, type StudioEvent } from '../contract/index.js';
import type { RecordGenerationInput } from '../library/index.js';
import type { GenerationRecord } from '../contract/library.js';
import { terminalText } from '../contract/terminal.js';
import { EngineClient } from '../engine/client.js';
import { encodePng } from '../engine/image.js';
import type { PipelineProgress, PipelineResult } from '../engine/pipeline/types.js';
import type { AreaHandlers, Transport } from './context.js';
import { type DecodedInputs, decodeInputs, fitInputs, pasteGenerated } from './generation-images.js';
import { type Job, JobQueue } from './jobs.js';
import { type Inspect, ModelRegistry } from './models-registry.js';
import { toApiError } from './studio.js';
import { APP_VERSION } from './version.js';

// The studio side of generation: models (list, add, remove, inspect), and jobs — validated
// and decoded at `generate`, queued first-in first-out, run one at a time in the engine
// worker, announced as events, and recorded in the library when they finish.

/** What generation needs from the library (app/library's Library has these). */
export interface GenerationLibrary {
  recordGeneration(input: RecordGenerationInput): Promise<GenerationRecord>;
  hasImage(sha256: string): boolean;
  imagePath(sha256: string): string;
  modelHash(dir: string): string;
}

export interface GenerationAreaOptions {
  home: string;
  transport: Transport;
  emit(event: StudioEvent): void;
  library: GenerationLibrary;
  /** Defaults to a forked engine worker. */
  engine?: EngineClient;
  /** Defaults to the engine's inspectModel. */
  inspect?: Inspect;
  /** The bundled model; defaults to resources/models/starter. */
  starterDir?: string;
  /** Least time between two progress previews (PNG encoding costs; the UI needs few). Default 500 ms. */
  previewIntervalMs?: number;
  /** Jobs that may wait behind the running one before `generate` answers `busy` (default: jobs.ts DEFAULT_MAX_WAITING). */
  maxWaitingJobs?: number;
}

export interface GenerationArea {
  handlers: AreaHandlers<typeof generationMethods>;
  queue: JobQueue<DecodedInputs>;
  registry: ModelRegistry;
  engine: EngineClient;
  close(): Promise<void>;
}

/** Where the UI loads a library image: web mode's token-protected route, or the desktop protocol (main/electron/protocol-paths.ts). */
export function imageUrl(sha256: string, transport: Transport): string {
  return transport === 'electron' ? `atelier://library/${sha256}.png` : `/media/images/${sha256}.png`;
}

/** Failures that mean the request never ran; they are not history. */
const NOT_RUN = new Set(['bad_request', 'invalid_model', 'invalid_file', 'not_found']);

export function createGenerationArea(options: GenerationAreaOptions): GenerationArea {
  const inspect: Inspect = options.inspect ?? (async (dir) => (await import('../engine/index.js')).inspectModel(dir));
  const registry = new ModelRegistry({ home: options.home, inspect, starterDir: options.starterDir });
  const engine = options.engine ?? new EngineClient();
  const previewInterval = options.previewIntervalMs ?? 500;
  const { library, emit } = options;
  const resolveSha256 = (sha: string) => (library.hasImage(sha) ? library.imagePath(sha) : undefined);

  const run = async (job: Job<DecodedInputs>): Promise<void> => {
    const { request } = job;
    const startedAt = Date.now();
    let device = request.device as string;
    let modelName: string | undefined;
    let modelHash: string | undefined;
    try {
      const model = registry.resolve(request.model);
      modelName = model.name;
      const info = await registry.info(model.path);
      const controls = request.controls.map((c) => ({ ...c, model: registry.resolve(c.model).path }));
      const fitted = await fitInputs(request, info, job.payload);
      const engineRequest: GenerationRequest = { ...request, model: model.path, controls, width: fitted.width, height: fitted.height };
      if (job.abort.signal.aborted) throw new ApiError('cancelled', 'Cancelled before it started');

      let started = false;
      const start = (dev: string) => {
        if (started) return;
        started = true;
        device = dev;
        job.totalSteps = request.steps;
        emit({ type: 'job.started', jobId: job.id, device: dev, totalSteps: request.steps });
      };
      // Progress events keep their order even when one waits for a preview to encode.
      let progressChain = Promise.resolve();
      let lastPreviewAt = -Infinity;
      const onProgress = (p: PipelineProgress) => {
        start(device);
        job.step = p.step;
        job.totalSteps = p.totalSteps;
        const now = Date.now();
        const wantPreview = p.latentPreview !== undefined && now - lastPreviewAt >= previewInterval;
        if (wantPreview) lastPreviewAt = now;
        const elapsedMs = now - startedAt;
        const done = p.candidateIndex * p.totalSteps + p.step;
        const total = request.batch * p.totalSteps;
        const etaMs = done > 0 && done <= total ? (elapsedMs / done) * (total - done) : undefined;
        progressChain = progressChain.then(async () => {
          // A preview that cannot be encoded is skipped, never the progress it rides on.
          const preview = wantPreview && p.latentPreview ? await encodePng(p.latentPreview, { compressionLevel: 1 }).then((png) => png.toString('base64'), () => undefined) : undefined;
          emit({ type: 'job.progress', jobId: job.id, step: p.step, totalSteps: p.totalSteps, elapsedMs, ...(etaMs !== undefined ? { etaMs } : {}), ...(preview ? { preview } : {}) });
        });
      };
      let result: PipelineResult;
      try {
        result = await engine.generate(engineRequest, fitted.images, { signal: job.abort.signal, onLoaded: ({ device: dev }) => start(dev), onProgress });
      } finally {
        // Progress is news, not the outcome: an event that could not be sent must not turn a
        // finished run into a failure; the pipeline's own result or error decides below.
        await progressChain.catch(() => undefined);
      }
      start(result.device);
      device = result.device;

      const candidates = [];
      for (const c of result.candidates) {
        const image = fitted.pasteBack ? await pasteGenerated(c.image, fitted.pasteBack) : c.image;
        candidates.push({ index: c.index, seed: c.seed, image });
      }
      modelHash = library.modelHash(model.path);
      const record = await library.recordGeneration({
        request,
        modelName,
        modelHash,
        device,
        appVersion: APP_VERSION,
        timings: { ...result.timings, wallMs: Date.now() - startedAt },
        status: 'completed',
        candidates,
      });
      job.state = 'completed';
      // The library now holds the inputs: list the job with their hashes, not megabytes of base64.
      if (record.request) job.request = record.request;
      const summaries: CandidateSummary[] = record.candidates.map((c) => ({
        id: c.id,
        seed: c.seed ?? request.seed + c.index,
        index: c.index,
        sha256: c.sha256,
        width: c.width,
        height: c.height,
        url: imageUrl(c.sha256, options.transport),
      }));
      emit({ type: 'job.completed', jobId: job.id, generationId: record.id, candidates: summaries });
      // The history lists refresh on library changes, as they do for import, rate, tag, delete.
      emit({ type: 'library.changed', change: 'recorded', generationIds: [record.id] });
    } catch (caught) {
      const error = toApiError(caught);
      const cancelled = job.abort.signal.aborted || error.code === 'cancelled';
      job.state = cancelled ? 'cancelled' : 'failed';
      emit({ type: 'job.failed', jobId: job.id, cancelled, error: { code: cancelled ? 'cancelled' : error.code, message: error.message } });
      if (!NOT_RUN.has(error.code)) {
        // A run that started and stopped is history too (what was tried, on what, and why it ended).
        await library
          .recordGeneration({ request, modelName, modelHash, device, appVersion: APP_VERSION, status: cancelled ? 'cancelled' : 'failed', error: error.message, candidates: [] })
          .then((record) => emit({ type: 'library.changed', change: 'recorded', generationIds: [record.id] }))
          .catch((recordError: unknown) => {
            // The artist already has job.failed with the run's own error; the history entry
            // that also failed must not replace it, and must not vanish either: log both.
            const why = recordError instanceof Error ? recordError.message : String(recordError);
            // Messages may quote file bytes or stored names: escaped for the log's terminal.
            console.error(terminalText(`atelier: job ${job.id} ${job.state} (${error.message}); recording it in the library failed too: ${why}`));
          });
      }
    }
  };

  const queue = new JobQueue<DecodedInputs>({
    run,
    ...(options.maxWaitingJobs !== undefined ? { maxWaiting: options.maxWaitingJobs } : {}),
    onQueued: (job, position) => emit({ type: 'job.queued', jobId: job.id, position }),
  });

  const handlers: AreaHandlers<typeof generationMethods> = {
    'models.list': () => registry.list(),
    'models.add': ({ path, name }) => registry.add(path, name),
    'models.remove': ({ id }) => ({ removed: registry.remove(id) }),
    'models.inspect': ({ path }) => registry.inspectFresh(path),
    generate: async ({ request }) => {
      // Refuse a full queue before decoding megabytes of images; enqueue checks again, since
      // other requests may have joined while these decoded.
      queue.assertRoom();
      const decoded = await decodeInputs(request, resolveSha256);
      const job = queue.enqueue(request, decoded);
      return { jobId: job.id };
    },
    'jobs.cancel': ({ jobId }) => {
      const wasQueued = queue.get(jobId)?.state === 'queued';
      const cancelled = queue.cancel(jobId);
      if (cancelled && wasQueued) emit({ type: 'job.failed', jobId, cancelled: true, error: { code: 'cancelled', message: 'Cancelled before it started' } });
      return { cancelled };
    },
    'jobs.list': () => queue.list(),
  };

  return {
    handlers,
    queue,
    registry,
    engine,
    close: async () => {
      // Engine first: a step of a large model may take seconds, and closing does not wait for it.
      await engine.close();
      await queue.stop();
    },
  };
}
