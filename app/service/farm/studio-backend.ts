import crypto from 'node:crypto';
import path from 'node:path';
import { Job as QueueJob, Queue, QueueEvents } from 'bullmq';
import { ApiError, type GenerationRequest, type ImageRef, type JobSummary } from '../../contract/index.js';
import { encodePng } from '../../engine/image.js';
import type { PipelineResult, RgbaImage } from '../../engine/pipeline/types.js';
import type { GenerationSteps, PreparedRun, RunContext } from '../generation-handlers.js';
import type { DecodedInputs } from '../generation-images.js';
import type { Job, JobBackend } from '../jobs.js';
import type { Redis } from 'ioredis';
import { CANCEL_CHANNEL, FARM_PREFIX, QUEUE_NAME, type QueueTarget, assertProtected, createRedis, parseQueueUrl } from './connection.js';
import { FarmJobData, FarmProgress, FarmResult, type ModelRef, type ModelSource, decodeFailure, decodePngBase64, parseOrRefuse, pngSha256 } from './protocol.js';
import { type PendingRecord, PendingStore, claimOwner, ownerAlive, studioIdentity } from './pending.js';

// The studio's side of the farm (docs/farm.md): a JobBackend that prepares each run here (the
// model resolved, inputs fitted — exactly as a local run), puts it on the shared BullMQ queue,
// follows the queue's events, and finishes the run here with the same steps a local run uses,
// so the library cannot tell a farm generation from a local one. A job is also written to
// <home>/farm/pending before it enters the queue and removed only after its result is in the
// library: a studio that restarts finds its jobs there and collects their results from Redis.

/** Interactive jobs (one candidate) go ahead of batches: BullMQ runs lower priorities first. */
export const PRIORITY_INTERACTIVE = 1;
export const PRIORITY_BATCH = 10;
/** Jobs this studio may have unfinished in the farm before `generate` answers `busy`. */
export const FARM_MAX_WAITING = 256;
/** How long a new job waits for an unreachable Redis before it fails (ioredis keeps reconnecting meanwhile). */
export const CONNECT_WAIT_MS = 15_000;
/** How often the studio asks Redis about its unfinished jobs, for events it missed (a Redis restart, a dropped connection). */
export const SWEEP_MS = 10_000;

/** What serves model folders to workers that lack them (model-server.ts). */
export interface ModelOffer {
  start(): Promise<unknown>;
  offer(hash: string, dir: string): void;
  source(): ModelSource;
  close(): Promise<void>;
}

export interface FarmBackendOptions {
  url: string;
  home: string;
  steps: GenerationSteps;
  models?: ModelOffer;
  maxWaiting?: number;
  keepFinished?: number;
  connectWaitMs?: number;
  /** Failures of the connection or of collecting a result (default: console.error). */
  log?: (line: string) => void;
}

interface Tracked {
  job: Job<DecodedInputs>;
  ctx: RunContext;
  prepared?: PreparedRun;
  /** In the BullMQ queue (else still being prepared here). */
  submitted: boolean;
}

export class FarmJobs implements JobBackend<DecodedInputs> {
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly redis: Redis;
  private readonly tracked = new Map<string, Tracked>();
  private readonly finished: Array<Job<DecodedInputs>> = [];
  private readonly collecting = new Set<string>();
  private readonly pending: PendingStore;
  private readonly studioId: string;
  private readonly log: (line: string) => void;
  private readonly target: QueueTarget;
  private idleWaiters: Array<() => void> = [];
  private stopped = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly owner = claimOwner();
  /** Connected, and the jobs a previous run of this studio left are adopted. */
  readonly ready: Promise<void>;

  constructor(private readonly options: FarmBackendOptions) {
    const target = parseQueueUrl(options.url);
    this.log = options.log ?? ((line) => console.error(line));
    this.target = target;
    this.queue = new Queue(QUEUE_NAME, { connection: target.redis });
    this.events = new QueueEvents(QUEUE_NAME, { connection: target.redis });
    this.redis = createRedis(target);
    this.redis.on('error', (e: Error) => this.log(`atelier farm: connection: ${e.message}`));
    // ioredis reconnects by itself; until it does, jobs wait here and in Redis.
    this.queue.on('error', (e) => this.log(`atelier farm: queue connection: ${e.message}`));
    this.events.on('error', (e) => this.log(`atelier farm: event connection: ${e.message}`));
    this.pending = new PendingStore(path.join(options.home, 'farm', 'pending'));
    this.studioId = studioIdentity(path.join(options.home, 'farm'));
    this.events.on('progress', ({ jobId, data }) => this.onProgress(jobId, data));
    this.events.on('completed', ({ jobId }) => void this.collect(jobId));
    this.events.on('failed', ({ jobId }) => void this.collect(jobId));
    this.ready = this.start();
    // A failed start is reported to each job that waits on it; this keeps Node from calling it unhandled.
    this.ready.catch((e: unknown) => this.log(`atelier farm: ${e instanceof Error ? e.message : String(e)}`));
  }

  private async start(): Promise<void> {
    // An open Redis is refused; one that is down now is asked again until it answers.
    for (;;) {
      try {
        await assertProtected(this.target);
        break;
      } catch (error) {
        if (this.stopped || (error instanceof ApiError && error.code === 'bad_request')) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady(), this.options.models?.start()]);
    await this.adopt();
    // Queue events are news, not the record: what the stream missed, Redis's job states still say.
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
  }

  private async sweep(): Promise<void> {
    for (const entry of [...this.tracked.values()]) {
      if (!entry.submitted || this.collecting.has(entry.job.id)) continue;
      // Redis away: the next sweep asks again.
      const state = await this.queue.getJobState(entry.job.id).catch(() => 'unknown');
      if (state === 'completed' || state === 'failed') await this.collect(entry.job.id);
    }
  }

  /** `ready`, or a typed failure when Redis does not answer in time (a wrong password, a host that is down). */
  private async connected(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const wait = this.options.connectWaitMs ?? CONNECT_WAIT_MS;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ApiError('engine_failed', `The farm's Redis at ${this.target.display} did not answer within ${Math.round(wait / 1000)} s`)), wait);
    });
    try {
      await Promise.race([this.ready, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  assertRoom(): void {
    if (this.stopped) throw new ApiError('busy', 'The studio is closing and takes no new jobs');
    const max = this.options.maxWaiting ?? FARM_MAX_WAITING;
    if (this.tracked.size >= max) throw new ApiError('busy', `${this.tracked.size} of this studio's jobs are unfinished in the farm, the most it keeps; wait for some to finish`, { waiting: this.tracked.size, maxWaiting: max });
  }

  enqueue(request: GenerationRequest, payload: DecodedInputs): Job<DecodedInputs> {
    this.assertRoom();
    const job: Job<DecodedInputs> = { id: `j_${crypto.randomUUID()}`, request, payload, state: 'queued', queuedAt: new Date().toISOString(), abort: new AbortController() };
    const entry: Tracked = { job, ctx: { device: request.device, startedAt: Date.now(), started: false }, submitted: false };
    this.tracked.set(job.id, entry);
    void this.submit(entry);
    return job;
  }

  private async submit(entry: Tracked): Promise<void> {
    const { job, ctx } = entry;
    try {
      await this.connected();
      const prepared = await this.options.steps.prepare(job, ctx);
      entry.prepared = prepared;
      if (job.abort.signal.aborted) throw new ApiError('cancelled', 'Cancelled before it started');
      const data = await this.jobData(job, prepared);
      this.pending.write({ jobId: job.id, request: job.request, queuedAt: job.queuedAt, device: job.request.device, owner: this.owner.owner });
      const priority = job.request.batch > 1 ? PRIORITY_BATCH : PRIORITY_INTERACTIVE;
      // Kept after they end: the result waits in Redis until this studio has recorded it.
      await this.queue.add('generate', data, { jobId: job.id, priority, attempts: 1, removeOnComplete: false, removeOnFail: false });
      entry.submitted = true;
      // Dropped: the payload is in Redis now, and the pasting-back part is in `prepared`.
      job.payload = { controls: [] };
      if (job.abort.signal.aborted) {
        await this.cancelSubmitted(entry);
        return;
      }
      const position = await this.queue.getPrioritizedCount().catch(() => 0);
      this.options.steps.emit({ type: 'job.queued', jobId: job.id, position: Math.max(0, position - 1) });
    } catch (caught) {
      this.pending.remove(job.id);
      // A job cancelled while it was prepared was announced by jobs.cancel already.
      if (job.state !== 'cancelled') await this.options.steps.fail(job, ctx, caught);
      this.retire(entry);
    }
  }

  /** The job as workers see it: models by hash, images as PNG bytes, image references as those bytes' hashes. */
  private async jobData(job: Job<DecodedInputs>, prepared: PreparedRun): Promise<FarmJobData> {
    const { steps } = this.options;
    const modelRef = (name: string, dir: string): ModelRef => {
      const hash = steps.contentHash(dir);
      this.options.models?.offer(hash, dir);
      return { hash, name: name.slice(0, 256) };
    };
    // The model as the engine opens it: the base folder, or the copy with the prompt's LoRAs and
    // embeddings and the chosen VAE applied (prepare), so that a worker runs what this studio
    // would; history still names the base model and the LoRAs' and VAE's hashes.
    const main = modelRef(prepared.modelName, prepared.engineRequest.model);
    const models = [main];
    const png = async (image: RgbaImage | undefined) => (image ? await encodePng(image, { compressionLevel: 1 }) : undefined);
    const { images } = prepared.fitted;
    const [init, mask] = [await png(images.init), await png(images.mask)];
    const controls: Buffer[] = [];
    for (const c of images.controls ?? []) controls.push((await png(c))!);
    const regions: Buffer[] = [];
    for (const r of images.regions ?? []) regions.push((await png(r))!);
    const ref = (bytes: Buffer): ImageRef => ({ sha256: pngSha256(bytes) });
    const engine = prepared.engineRequest;
    // The SDXL refiner is a model too: sent by hash, fetched or held like the others (docs/engine.md, "base → refiner").
    const refiner = engine.refiner ? modelRef(prepared.refiner?.name ?? path.basename(engine.refiner.model), engine.refiner.model) : undefined;
    if (refiner && !models.some((m) => m.hash === refiner.hash)) models.push(refiner);
    const request: GenerationRequest = {
      ...engine,
      model: main.hash,
      ...(engine.refiner && refiner ? { refiner: { ...engine.refiner, model: refiner.hash } } : {}),
      init: init ? ref(init) : undefined,
      inpaint: engine.inpaint && mask ? { ...engine.inpaint, mask: ref(mask) } : undefined,
      controls: engine.controls.map((c, i) => {
        const control = modelRef(path.basename(c.model), c.model);
        if (!models.some((m) => m.hash === control.hash)) models.push(control);
        return { ...c, model: control.hash, image: ref(controls[i]!) };
      }),
      // Each region's mask travels fitted, as the pipeline takes it, named by its PNG's hash.
      ...(engine.regions && engine.regions.length > 0 ? { regions: engine.regions.map((r, i) => ({ ...r, mask: ref(regions[i]!) })) } : {}),
    };
    const data = {
      v: 1 as const,
      studioId: this.studioId,
      jobId: job.id,
      request,
      models,
      images: { ...(init ? { init: init.toString('base64') } : {}), ...(mask ? { mask: mask.toString('base64') } : {}), controls: controls.map((b) => b.toString('base64')), ...(regions.length > 0 ? { regions: regions.map((b) => b.toString('base64')) } : {}) },
      source: this.options.models?.source() ?? null,
    };
    // Checked on the way out too: what this studio cannot vouch for never reaches a worker.
    return parseOrRefuse(FarmJobData, data, 'The job');
  }

  private onProgress(jobId: string, data: unknown): void {
    const entry = this.tracked.get(jobId);
    if (!entry || entry.job.state === 'cancelled') return;
    const progress = FarmProgress.safeParse(data);
    if (!progress.success) return; // not a worker of this farm's version: its result decides
    const p = progress.data;
    const { job, ctx } = entry;
    if (job.state === 'queued') job.state = 'running';
    // The run's clock (ETA, wall time) starts when a worker has it, not when it joined the queue.
    if (!ctx.started) ctx.startedAt = Date.now();
    this.options.steps.started(job, ctx, p.device);
    if (p.step > 0) this.options.steps.progressed(job, ctx, { step: p.step, totalSteps: p.totalSteps, candidateIndex: p.candidateIndex }, p.preview);
  }

  /** Records a finished job's outcome once, then lets Redis forget it. */
  private async collect(jobId: string): Promise<void> {
    if (this.collecting.has(jobId)) return;
    const entry = this.tracked.get(jobId);
    if (!entry) return; // another studio's job, or one already collected
    this.collecting.add(jobId);
    try {
      const bjob = await QueueJob.fromId(this.queue, jobId);
      if (!bjob) return;
      const state = await bjob.getState();
      if (state !== 'completed' && state !== 'failed') return; // a retry after a stall: not over yet
      // One collector per job, whatever shares this home: the claim expires if its holder dies.
      const claimed = await this.redis.set(`${FARM_PREFIX}:collect:${jobId}`, this.owner.owner.instance, 'EX', 300, 'NX');
      if (claimed !== 'OK') return;
      const record = this.pending.read(jobId);
      if (record?.generationId === undefined) await this.finish(entry, bjob, state);
      // Recorded: Redis may forget the job, then the ledger.
      await bjob.remove().catch((e: unknown) => this.log(`atelier farm: job ${jobId} is recorded but stays in Redis: ${e instanceof Error ? e.message : String(e)}`));
      this.pending.remove(jobId);
      this.retire(entry);
    } catch (e) {
      // Left in the ledger and in Redis: the next start of the studio collects it.
      this.log(`atelier farm: collecting job ${jobId} failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      this.collecting.delete(jobId);
    }
  }

  private async finish(entry: Tracked, bjob: QueueJob, state: 'completed' | 'failed'): Promise<void> {
    const { job, ctx } = entry;
    const { steps } = this.options;
    // Finished while this studio was away: its wall time is the worker's.
    if (!ctx.started && bjob.processedOn) ctx.startedAt = Date.now() - Math.max(0, (bjob.finishedOn ?? bjob.processedOn) - bjob.processedOn);
    if (state === 'failed') {
      const error = decodeFailure(bjob.failedReason);
      // This studio checked the job before sending it: a worker that refuses it met a tampered
      // job or another version — a farm failure, recorded as such rather than as a bad request.
      await steps.fail(job, ctx, error.code === 'bad_request' ? new ApiError('engine_failed', `A worker refused the job: ${error.message}`) : error);
      this.pending.markRecorded(job.id, '');
      return;
    }
    try {
      const result = await this.readResult(bjob.returnvalue, job.request.batch).catch((e: unknown) => {
        // Recorded as a failed run (it did run, somewhere): the worker's answer is the fault.
        throw new ApiError('engine_failed', `A worker sent a result outside the farm's contract: ${e instanceof Error ? e.message : String(e)}`);
      });
      ctx.device = result.device;
      const prepared = entry.prepared ?? (await this.reprepare(entry));
      const generationId = await steps.complete(job, ctx, prepared, result);
      this.pending.markRecorded(job.id, generationId);
    } catch (caught) {
      await steps.fail(job, ctx, caught);
      this.pending.markRecorded(job.id, '');
    }
  }

  /** A worker's result, checked: it may come from a broken or hostile worker. */
  private async readResult(value: unknown, batch: number): Promise<PipelineResult> {
    const result = parseOrRefuse(FarmResult, value, "A worker's result");
    if (result.candidates.length !== batch) throw new ApiError('engine_failed', `A worker returned ${result.candidates.length} candidates for a batch of ${batch}`);
    const candidates = [];
    for (const c of result.candidates) candidates.push({ index: c.index, seed: c.seed, image: (await decodePngBase64(c.png, `candidate ${c.index + 1} from the worker`)).image });
    return { device: result.device, timings: result.timings, candidates };
  }

  /** After a restart the fitted inputs are gone: they are made again from the request, as at submission. */
  private async reprepare(entry: Tracked): Promise<PreparedRun> {
    entry.job.payload = await this.options.steps.decode(entry.job.request);
    return this.options.steps.prepare(entry.job, entry.ctx);
  }

  /** Jobs in the ledger from a previous run of this studio: followed again, or collected now. */
  private async adopt(): Promise<void> {
    for (const record of this.pending.list()) {
      // Another studio process on this home (the web server beside `atelier generate`) follows its own.
      if (this.tracked.has(record.jobId) || ownerAlive(record.owner)) continue;
      this.pending.write({ ...record, owner: this.owner.owner });
      const entry = this.entryFor(record);
      this.tracked.set(record.jobId, entry);
      const bjob = await QueueJob.fromId(this.queue, record.jobId);
      if (!bjob) {
        if (record.generationId === undefined) await this.options.steps.fail(entry.job, entry.ctx, new ApiError('engine_failed', 'The farm lost the job (Redis no longer holds it)'));
        this.pending.remove(record.jobId);
        this.retire(entry);
        continue;
      }
      const state = await bjob.getState();
      if (state === 'active') entry.job.state = 'running';
      if (state === 'completed' || state === 'failed') await this.collect(record.jobId);
    }
  }

  private entryFor(record: PendingRecord): Tracked {
    const job: Job<DecodedInputs> = { id: record.jobId, request: record.request, payload: { controls: [] }, state: 'queued', queuedAt: record.queuedAt, abort: new AbortController() };
    return { job, ctx: { device: record.device, startedAt: Date.parse(record.queuedAt), started: false }, submitted: true };
  }

  async cancel(jobId: string): Promise<boolean> {
    const entry = this.tracked.get(jobId);
    if (!entry || entry.job.abort.signal.aborted) return false;
    const { job } = entry;
    job.abort.abort();
    if (!entry.submitted) {
      // Still being prepared here: submit() sees the abort and stops.
      job.state = 'cancelled';
      this.retire(entry);
      return true;
    }
    if (job.state === 'queued') return this.cancelSubmitted(entry);
    await this.tellWorkers(jobId);
    return true;
  }

  /** A job in Redis: removed if no worker holds it yet, else its worker is told to stop. */
  private async cancelSubmitted(entry: Tracked): Promise<boolean> {
    const { job } = entry;
    const bjob = await QueueJob.fromId(this.queue, job.id);
    const removed = bjob ? await bjob.remove().then(() => true, () => false) : false;
    if (removed) {
      job.state = 'cancelled';
      this.pending.remove(job.id);
      this.retire(entry);
      return true;
    }
    // A worker holds it (its lock stops the removal): it stops at its next step and reports.
    job.state = 'running';
    await this.tellWorkers(job.id);
    return true;
  }

  private async tellWorkers(jobId: string): Promise<void> {
    const client = this.redis;
    // The key covers a worker that takes the job just after the message went out.
    await client.set(`${FARM_PREFIX}:cancelled:${jobId}`, '1', 'EX', 3600);
    await client.publish(CANCEL_CHANNEL, jobId);
  }

  get(jobId: string): Job<DecodedInputs> | undefined {
    return this.tracked.get(jobId)?.job ?? this.finished.find((j) => j.id === jobId);
  }

  list(): JobSummary[] {
    return [...this.finished, ...[...this.tracked.values()].map((t) => t.job)].map((j) => ({
      jobId: j.id,
      state: j.state,
      request: j.request,
      queuedAt: j.queuedAt,
      ...(j.step !== undefined ? { step: j.step } : {}),
      ...(j.totalSteps !== undefined ? { totalSteps: j.totalSteps } : {}),
    }));
  }

  idle(): Promise<void> {
    if (this.tracked.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Closes the connections; jobs stay in Redis and in the ledger for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    this.owner.release();
    await this.ready.catch(() => undefined); // its failure was logged when it happened
    await this.events.close();
    await this.queue.close();
    await this.redis.quit().catch(() => this.redis.disconnect()); // a connection that is already gone is closed enough
    await this.options.models?.close();
  }

  private retire(entry: Tracked): void {
    if (!this.tracked.delete(entry.job.id)) return;
    this.finished.push(entry.job);
    const keep = this.options.keepFinished ?? 50;
    if (this.finished.length > keep) this.finished.splice(0, this.finished.length - keep);
    if (this.tracked.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
