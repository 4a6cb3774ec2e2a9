import crypto from 'node:crypto';
import { ApiError, type CandidateSummary, type GenerationRequest, type generationMethods, type StudioEvent } from '../contract/index.js';
import type { RecordGenerationInput } from '../library/index.js';
import type { GenerationRecord } from '../contract/library.js';
import { terminalText } from '../contract/terminal.js';
import { EngineClient } from '../engine/client.js';
import { ortCacheDir } from '../engine/model/ort-cache.js';
import { encodePng } from '../engine/image.js';
import type { PipelineProgress, PipelineResult } from '../engine/pipeline/types.js';
import type { AreaHandlers, Transport } from './context.js';
import { type DecodedInputs, type FittedInputs, decodeInputs, fitInputs, pasteGenerated } from './generation-images.js';
import type { JobJournal } from './job-journal.js';
import { type Job, type JobBackend, JobQueue } from './jobs.js';
import { type Inspect, ModelRegistry } from './models-registry.js';
import { preparePromptModel } from './model-loras.js';
import { prepareVae } from './model-vae.js';
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
  /** What farm workers name and check a model folder by (Library.contentHash). */
  contentHash(dir: string): string;
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
  /** Another place for jobs to wait and run (a render farm, app/service/farm); default: this process's JobQueue and engine. */
  backend?: (steps: GenerationSteps) => JobBackend<DecodedInputs>;
  /** Keeps the local queue's jobs on disk until they end, and finds a crashed run's again (job-journal.ts). Closed with the area. */
  journal?: JobJournal;
}

/** What one run has learned so far, for its record however it ends. */
export interface RunContext {
  device: string;
  startedAt: number;
  /** job.started has been sent. */
  started: boolean;
  modelName?: string;
  modelHash?: string;
}

/** A run with its model resolved: the engine's request (model and ControlNets as folders) and the fitted images. */
export interface PreparedRun {
  modelName: string;
  modelPath: string;
  engineRequest: GenerationRequest;
  fitted: FittedInputs;
  /** A1111's "Lora hashes" when the prompt's <lora:…> tags were applied. */
  loraHashes?: string;
  /** The SDXL refiner as resolved (registered id or folder → folder and name), for A1111's "Refiner: name [hash]". */
  refiner?: { name: string; path: string };
  /** A1111's `VAE hash` (10 hex digits) and `VAE` (its file name) when the request swapped the VAE. */
  vaeHash?: string;
  vaeName?: string;
}

/**
 * The studio's side of a run, in the pieces a job back-end puts together: the local queue
 * runs the engine between `prepare` and `complete`; a farm sends the prepared run to a worker
 * and calls the rest as its events come back, so a farm job is recorded exactly as a local one.
 */
export interface GenerationSteps {
  prepare(job: Job<DecodedInputs>, ctx: RunContext): Promise<PreparedRun>;
  started(job: Job<DecodedInputs>, ctx: RunContext, device: string): void;
  /** `preview` is a base64 PNG already encoded. */
  progressed(job: Job<DecodedInputs>, ctx: RunContext, progress: Omit<PipelineProgress, 'latentPreview'>, preview?: string): void;
  /** Records the run and announces it; resolves to the generation's id. */
  complete(job: Job<DecodedInputs>, ctx: RunContext, prepared: PreparedRun, result: PipelineResult): Promise<string>;
  fail(job: Job<DecodedInputs>, ctx: RunContext, caught: unknown): Promise<void>;
  registry: ModelRegistry;
  /** A model folder's content hash (GenerationLibrary.contentHash): what farm workers name and check models by. */
  contentHash(dir: string): string;
  /** Decodes a request's images as `generate` does (library hashes included). */
  decode(request: GenerationRequest): Promise<DecodedInputs>;
  emit(event: StudioEvent): void;
}

export interface GenerationArea {
  handlers: AreaHandlers<typeof generationMethods>;
  queue: JobBackend<DecodedInputs>;
  registry: ModelRegistry;
  engine: EngineClient;
  /** Settles once the jobs a previous run left in the journal are queued again or recorded as failed. */
  recovered: Promise<void>;
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
  // optimised graphs cached under the home, reused by the next worker (docs/engine.md, "Session set-up")
  const engine = options.engine ?? new EngineClient({ ortCacheDir: ortCacheDir(options.home) });
  const previewInterval = options.previewIntervalMs ?? 500;
  const { library, emit, journal } = options;
  const resolveSha256 = (sha: string) => (library.hasImage(sha) ? library.imagePath(sha) : undefined);

  /** Model, inputs fitted to its size, the engine's request; `ctx` learns the model's name as soon as it is known. */
  const prepare = async (job: Job<DecodedInputs>, ctx: RunContext): Promise<PreparedRun> => {
    const { request } = job;
    const model = registry.resolve(request.model);
    ctx.modelName = model.name;
    const info = await registry.info(model.path);
    const controls = request.controls.map((c) => ({ ...c, model: registry.resolve(c.model).path }));
    // The refiner is named as the model is: a registered id or a folder (docs/engine.md, "base → refiner").
    const refiner = request.refiner ? registry.resolve(request.refiner.model) : undefined;
    const fitted = await fitInputs(request, info, job.payload);
    // <lora:NAME:WEIGHT> tags and embedding names: the engine opens the model with those applied and encodes the prompt without the tags (docs/models.md).
    const loras = await preparePromptModel(options.home, model.path, request.prompt, request.negativePrompt);
    // A VAE chosen for this generation: an overlay of the (patched) model with its graphs (docs/models.md, "VAE swap").
    const vae = request.vae ? await prepareVae(options.home, loras?.modelPath ?? model.path, request.vae) : undefined;
    // The chosen VAE is in that folder: the engine (or a farm worker) gets no path or name of this studio's for it.
    const { vae: _applied, ...rest } = request;
    const engineRequest: GenerationRequest = {
      ...rest,
      ...(loras ? { prompt: loras.prompt, negativePrompt: loras.negativePrompt } : {}),
      model: vae?.modelPath ?? loras?.modelPath ?? model.path,
      controls,
      ...(refiner && request.refiner ? { refiner: { ...request.refiner, model: refiner.path } } : {}),
      width: fitted.width,
      height: fitted.height,
    };
    return { modelName: model.name, modelPath: model.path, engineRequest, fitted, ...(loras?.loraHashes ? { loraHashes: loras.loraHashes } : {}), ...(refiner ? { refiner: { name: refiner.name, path: refiner.path } } : {}), ...(vae ? { vaeHash: vae.vaeHash, vaeName: vae.vaeName } : {}) };
  };

  const started = (job: Job<DecodedInputs>, ctx: RunContext, device: string): void => {
    if (ctx.started) return;
    ctx.started = true;
    ctx.device = device;
    job.totalSteps = job.request.steps;
    emit({ type: 'job.started', jobId: job.id, device, totalSteps: job.request.steps });
  };

  const progressed = (job: Job<DecodedInputs>, ctx: RunContext, p: Omit<PipelineProgress, 'latentPreview'>, preview?: string): void => {
    job.step = p.step;
    job.totalSteps = p.totalSteps;
    const elapsedMs = Date.now() - ctx.startedAt;
    const done = p.completed ?? p.candidateIndex * p.totalSteps + p.step;
    const total = job.request.batch * p.totalSteps;
    const etaMs = done > 0 && done <= total ? (elapsedMs / done) * (total - done) : undefined;
    emit({ type: 'job.progress', jobId: job.id, step: p.step, totalSteps: p.totalSteps, elapsedMs, ...(etaMs !== undefined ? { etaMs } : {}), ...(preview ? { preview } : {}) });
  };

  /** The engine's candidates, pasted back where the run was an inpainting, recorded and announced. */
  const complete = async (job: Job<DecodedInputs>, ctx: RunContext, prepared: PreparedRun, result: PipelineResult): Promise<string> => {
    const { request } = job;
    started(job, ctx, result.device);
    ctx.device = result.device;
    const candidates = [];
    for (const c of result.candidates) {
      const image = prepared.fitted.pasteBack ? await pasteGenerated(c.image, prepared.fitted.pasteBack) : c.image;
      candidates.push({ index: c.index, seed: c.seed, image });
    }
    if (request.preview) return completePreview(job, candidates);
    ctx.modelHash = library.modelHash(prepared.modelPath);
    const record = await library.recordGeneration({
      request,
      modelName: prepared.modelName,
      modelHash: ctx.modelHash,
      ...(prepared.loraHashes ? { loraHashes: prepared.loraHashes } : {}),
      ...(prepared.refiner ? { refiner: `${prepared.refiner.name} [${library.modelHash(prepared.refiner.path).slice(0, 10)}]` } : {}),
      ...(prepared.vaeHash ? { vaeHash: prepared.vaeHash } : {}),
      ...(prepared.vaeName ? { vaeName: prepared.vaeName } : {}),
      device: ctx.device,
      appVersion: APP_VERSION,
      timings: { ...result.timings, wallMs: Date.now() - ctx.startedAt },
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
    return record.id;
  };

  /**
   * A live preview (docs: issue 15): announced with its pixels inline as a data: URL and
   * never recorded, so that previews made at every stroke do not fill the history.
   */
  const completePreview = async (job: Job<DecodedInputs>, candidates: Array<{ index: number; seed: number; image: PipelineResult['candidates'][number]['image'] }>): Promise<string> => {
    const generationId = `preview_${job.id}`;
    const summaries: CandidateSummary[] = [];
    for (const c of candidates) {
      const png = await encodePng(c.image, { compressionLevel: 1 });
      const sha256 = crypto.createHash('sha256').update(png).digest('hex');
      summaries.push({ id: `${generationId}_${c.index}`, seed: c.seed, index: c.index, sha256, width: c.image.width, height: c.image.height, url: `data:image/png;base64,${png.toString('base64')}` });
    }
    job.state = 'completed';
    emit({ type: 'job.completed', jobId: job.id, generationId, candidates: summaries });
    return generationId;
  };

  /** A run that failed or was cancelled: announced, and recorded unless it never ran (or was a live preview). */
  const fail = async (job: Job<DecodedInputs>, ctx: RunContext, caught: unknown): Promise<void> => {
    const { request } = job;
    const { modelName, modelHash, device } = ctx;
    const error = toApiError(caught);
    const cancelled = job.abort.signal.aborted || error.code === 'cancelled';
    job.state = cancelled ? 'cancelled' : 'failed';
    emit({ type: 'job.failed', jobId: job.id, cancelled, error: { code: cancelled ? 'cancelled' : error.code, message: error.message } });
    if (!NOT_RUN.has(error.code) && !request.preview) {
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
  };

  const run = async (job: Job<DecodedInputs>): Promise<void> => {
    const ctx: RunContext = { device: job.request.device as string, startedAt: Date.now(), started: false };
    // From here a crash fails the job rather than queueing it again, so a job that brings the studio down cannot do it at every start.
    journal?.markRunning(job.id);
    try {
      const prepared = await prepare(job, ctx);
      if (job.abort.signal.aborted) throw new ApiError('cancelled', 'Cancelled before it started');
      // Progress events keep their order even when one waits for a preview to encode.
      let progressChain = Promise.resolve();
      let lastPreviewAt = -Infinity;
      const onProgress = (p: PipelineProgress) => {
        started(job, ctx, ctx.device);
        const now = Date.now();
        const wantPreview = p.latentPreview !== undefined && now - lastPreviewAt >= previewInterval;
        if (wantPreview) lastPreviewAt = now;
        progressChain = progressChain.then(async () => {
          // A preview that cannot be encoded is skipped, never the progress it rides on.
          const preview = wantPreview && p.latentPreview ? await encodePng(p.latentPreview, { compressionLevel: 1 }).then((png) => png.toString('base64'), () => undefined) : undefined;
          progressed(job, ctx, p, preview);
        });
      };
      let result: PipelineResult;
      try {
        result = await engine.generate(prepared.engineRequest, prepared.fitted.images, { signal: job.abort.signal, onLoaded: ({ device: dev }) => started(job, ctx, dev), onProgress });
      } finally {
        // Progress is news, not the outcome: an event that could not be sent must not turn a
        // finished run into a failure; the pipeline's own result or error decides below.
        await progressChain.catch(() => undefined);
      }
      await complete(job, ctx, prepared, result);
    } catch (caught) {
      await fail(job, ctx, caught);
    } finally {
      // Recorded (or its recording failed and was logged): the journal lets it go.
      journal?.remove(job.id);
    }
  };

  const queue: JobBackend<DecodedInputs> = options.backend
    ? options.backend({ prepare, started, progressed, complete, fail, registry, contentHash: (dir) => library.contentHash(dir), decode: (request) => decodeInputs(request, resolveSha256), emit })
    : new JobQueue<DecodedInputs>({
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
      // A live preview is worth nothing after a restart: not journaled.
      if (!request.preview) journal?.add(job.id, request, job.queuedAt);
      return { jobId: job.id };
    },
    'jobs.cancel': async ({ jobId }) => {
      const wasQueued = queue.get(jobId)?.state === 'queued';
      const cancelled = await queue.cancel(jobId);
      // A queued job that never started ends here; one a farm worker had just taken ends by its own events.
      if (cancelled && wasQueued && queue.get(jobId)?.state === 'cancelled') {
        journal?.remove(jobId);
        emit({ type: 'job.failed', jobId, cancelled: true, error: { code: 'cancelled', message: 'Cancelled before it started' } });
      }
      return { cancelled };
    },
    'jobs.list': () => queue.list(),
  };

  const recovered = journal && !options.backend ? recoverJournal(journal, queue, { library, emit, decode: (request) => decodeInputs(request, resolveSha256) }) : Promise.resolve();

  return {
    handlers,
    queue,
    registry,
    engine,
    recovered,
    close: async () => {
      // Engine first: a step of a large model may take seconds, and closing does not wait for it.
      await engine.close();
      // Jobs still waiting stay in the journal: the next start queues them again.
      await queue.stop();
      await recovered;
      journal?.close();
    },
  };
}

/** Why a job the journal still held as running did not finish. */
export const INTERRUPTED = 'The studio stopped while this job was running (it crashed or was killed); it did not finish';

/**
 * The jobs a previous run of the studio left (docs: issue 15): one that was running is
 * recorded as failed with the reason; waiting ones are queued again, oldest first, under new
 * ids (a request that no longer decodes is recorded as failed with its error). None is
 * dropped without a record.
 */
async function recoverJournal(
  journal: JobJournal,
  queue: JobBackend<DecodedInputs>,
  deps: { library: GenerationLibrary; emit: (event: StudioEvent) => void; decode: (request: GenerationRequest) => Promise<DecodedInputs> },
): Promise<void> {
  const { entries, unreadable } = journal.entries({ left: true });
  const recordFailure = async (request: GenerationRequest, error: string) => {
    const record = await deps.library.recordGeneration({ request, appVersion: APP_VERSION, status: 'failed', error, candidates: [] });
    deps.emit({ type: 'library.changed', change: 'recorded', generationIds: [record.id] });
  };
  for (const bad of unreadable) {
    console.error(terminalText(`atelier: job ${bad.jobId} (${bad.state}) left by the last run cannot be read, so it is dropped: ${bad.error}`));
    journal.remove(bad.jobId);
  }
  for (const entry of entries) {
    try {
      if (entry.state === 'running') {
        await recordFailure(entry.request, INTERRUPTED);
        journal.remove(entry.jobId);
        continue;
      }
      let decoded: DecodedInputs;
      try {
        decoded = await deps.decode(entry.request);
      } catch (error) {
        await recordFailure(entry.request, `Queued before the studio stopped, it could not be queued again: ${toApiError(error).message}`);
        journal.remove(entry.jobId);
        continue;
      }
      const job = queue.enqueue(entry.request, decoded);
      journal.rename(entry.jobId, job.id);
    } catch (error) {
      // Left in the journal: the next start tries again.
      console.error(terminalText(`atelier: job ${entry.jobId} left by the last run could not be recovered now: ${error instanceof Error ? error.message : String(error)}`));
    }
  }
}
