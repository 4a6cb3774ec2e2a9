import crypto from 'node:crypto';
import os from 'node:os';
import { DelayedError, type Job as QueueJob, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { ApiError, type DeviceChoice, type GenerationRequest } from '../../contract/index.js';
import { EngineClient } from '../../engine/client.js';
import { encodePng } from '../../engine/image.js';
import type { PipelineImages, PipelineProgress } from '../../engine/pipeline/types.js';
import { toApiError } from '../studio.js';
import { CANCEL_CHANNEL, FARM_PREFIX, QUEUE_NAME, assertProtected, createRedis, parseQueueUrl, workerKey } from './connection.js';
import { ModelStore } from './model-store.js';
import { FarmJobData, type FarmProgress, type FarmResult, WorkerAdvert, decodePngBase64, encodeFailure, parseOrRefuse } from './protocol.js';

// `atelier worker` (docs/farm.md, "Workers"): the engine as a BullMQ worker. Each job is parsed
// against the farm's contract before anything else (a hostile job fails, and its studio
// records the failure), its models are found by hash (fetched from the studio when missing),
// and it runs in an engine process of its own (app/engine/client.ts) — so the BullMQ side keeps
// renewing the job's lock while ONNX Runtime blocks, and a native crash costs one job, not the
// worker. Progress and previews go back as job progress; a cancel on the farm's channel aborts
// the run at its next step.

export interface FarmWorkerOptions {
  url: string;
  device: DeviceChoice;
  concurrency: number;
  /** Where fetched models are kept. */
  storeDir: string;
  /** Model folders this worker holds already (advertised by hash). */
  models?: string[];
  id?: string;
  /** How long a job's lock lasts without renewal; a killed worker's job is retried after about this long. Default 30 s. */
  lockDurationMs?: number;
  /** How often workers look for stalled jobs. Default 30 s. */
  stalledIntervalMs?: number;
  previewIntervalMs?: number;
  /** One engine per concurrent job (default: a forked engine worker). */
  engine?: () => EngineClient;
  /** Where the default engines cache optimised graphs (`atelier worker`: <ATELIER_HOME>/cache/ort). */
  ortCacheDir?: string;
  log?: (line: string) => void;
}

const ADVERT_EVERY_MS = 5_000;
/** A job for a model this worker lacks and cannot fetch goes back for a worker that has it, this often at most. */
const BOUNCE_DELAY_MS = 500;
const MAX_BOUNCES = 240;

export class FarmWorker {
  readonly id: string;
  private readonly store: ModelStore;
  private readonly engines: EngineClient[] = [];
  private readonly freeEngines: EngineClient[] = [];
  private readonly running = new Map<string, AbortController>();
  private readonly log: (line: string) => void;
  private worker: Worker | undefined;
  private redis: Redis | undefined;
  private subscriber: Redis | undefined;
  private advertTimer: NodeJS.Timeout | undefined;
  private readonly startedAt = new Date().toISOString();
  private device: string;

  constructor(private readonly options: FarmWorkerOptions) {
    this.id = options.id ?? `${os.hostname()}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
    this.log = options.log ?? ((line) => console.error(line));
    this.store = new ModelStore(options.storeDir);
    this.device = options.device;
    for (let i = 0; i < options.concurrency; i++) {
      const engine = options.engine?.() ?? new EngineClient({ idleStopMs: 0, ...(options.ortCacheDir ? { ortCacheDir: options.ortCacheDir } : {}) });
      this.engines.push(engine);
      this.freeEngines.push(engine);
    }
  }

  /** Hashes the given model folders, connects, advertises, and starts taking jobs. */
  async start(): Promise<void> {
    for (const folder of this.options.models ?? []) this.store.addFolder(folder);
    const target = parseQueueUrl(this.options.url);
    await assertProtected(target);
    this.redis = createRedis(target);
    this.subscriber = createRedis(target);
    for (const client of [this.redis, this.subscriber]) client.on('error', (e: Error) => this.log(`atelier worker: connection: ${e.message}`));
    this.subscriber.on('message', (_channel: string, jobId: string) => this.running.get(jobId)?.abort());
    await this.subscriber.subscribe(CANCEL_CHANNEL);
    await this.advertise();
    this.advertTimer = setInterval(() => void this.advertise().catch((e: unknown) => this.log(`atelier worker: advert: ${String(e)}`)), ADVERT_EVERY_MS);
    this.worker = new Worker(QUEUE_NAME, (job: QueueJob, token?: string) => this.process(job, token), {
      connection: target.redis,
      concurrency: this.options.concurrency,
      lockDuration: this.options.lockDurationMs ?? 30_000,
      stalledInterval: this.options.stalledIntervalMs ?? 30_000,
      // A job whose worker vanished is retried on another this many times before it fails.
      maxStalledCount: 2,
    });
    this.worker.on('error', (e) => this.log(`atelier worker: ${e.message}`));
    await this.worker.waitUntilReady();
  }

  private async advertise(): Promise<void> {
    const advert: WorkerAdvert = {
      id: this.id,
      host: os.hostname(),
      pid: process.pid,
      device: this.device,
      concurrency: this.options.concurrency,
      models: this.store.hashes(),
      running: [...this.running.keys()],
      startedAt: this.startedAt,
      seenAt: new Date().toISOString(),
    };
    await this.redis?.set(workerKey(this.id), JSON.stringify(advert), 'EX', Math.ceil((ADVERT_EVERY_MS * 3) / 1000));
  }

  private async process(job: QueueJob, token?: string): Promise<FarmResult> {
    const jobId = job.id ?? '';
    // A routing check that cannot reach Redis leaves the job here: running it is never wrong.
    if (await this.passOn(job, token).catch(() => false)) {
      // BullMQ's way to say "not mine after all": the job waits in the delayed set, no attempt spent.
      throw new DelayedError();
    }
    const abort = new AbortController();
    this.running.set(jobId, abort);
    const engine = this.freeEngines.pop();
    try {
      if (!engine) throw new ApiError('busy', 'No engine free (more jobs than --concurrency)');
      const data = parseOrRefuse(FarmJobData, job.data, 'The job');
      if (data.jobId !== jobId) throw new ApiError('bad_request', 'The job names another job id than its own');
      if (await this.redis?.exists(`${FARM_PREFIX}:cancelled:${jobId}`)) throw new ApiError('cancelled', 'Cancelled before it started');
      return await this.run(job, data, engine, abort.signal);
    } catch (caught) {
      const error = abort.signal.aborted ? new ApiError('cancelled', 'Cancelled') : toApiError(caught);
      // BullMQ keeps a message only: the typed code rides in it (protocol.ts decodeFailure).
      throw new Error(encodeFailure(error), { cause: caught });
    } finally {
      this.running.delete(jobId);
      if (engine) this.freeEngines.push(engine);
    }
  }

  /**
   * Without a model endpoint to fetch from, a job for a model this worker lacks is routed to the
   * workers that advertise it (docs/farm.md, "Models"): it goes back to the queue for a moment
   * while such a worker lives, up to MAX_BOUNCES times; with none, it runs here and fails as
   * `invalid_model`.
   */
  private async passOn(job: QueueJob, token: string | undefined): Promise<boolean> {
    // A job its studio serves models for is fetched, not routed: no need to parse it twice.
    if ((job.data as { source?: unknown } | undefined)?.source || !this.redis) return false;
    const parsed = FarmJobData.safeParse(job.data);
    if (!parsed.success) return false; // refused, with its reason, in process()
    const missing = parsed.data.models.filter((m) => !this.store.hashes().includes(m.hash)).map((m) => m.hash);
    if (missing.length === 0) return false;
    const holders = await this.holders(missing);
    if (holders === 0) return false;
    const bounces = await this.redis.incr(`${FARM_PREFIX}:bounces:${job.id}`);
    await this.redis.expire(`${FARM_PREFIX}:bounces:${job.id}`, 3600);
    if (bounces > MAX_BOUNCES) return false;
    await job.moveToDelayed(Date.now() + BOUNCE_DELAY_MS, token);
    return true;
  }

  /** Live workers other than this one that hold every one of `hashes`. */
  private async holders(hashes: string[]): Promise<number> {
    let count = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis!.scan(cursor, 'MATCH', `${FARM_PREFIX}:worker:*`, 'COUNT', 200);
      cursor = next;
      for (const key of keys) {
        if (key === workerKey(this.id)) continue;
        const advert = WorkerAdvert.safeParse(safeJson(await this.redis!.get(key)));
        if (advert.success && hashes.every((h) => advert.data.models.includes(h))) count++;
      }
    } while (cursor !== '0');
    return count;
  }

  private async run(job: QueueJob, data: FarmJobData, engine: EngineClient, signal: AbortSignal): Promise<FarmResult> {
    const folders = new Map<string, string>();
    for (const model of data.models) folders.set(model.hash, await this.store.resolve(model, data.source, signal));
    const folder = (hash: string) => {
      const dir = folders.get(hash);
      if (!dir) throw new ApiError('bad_request', `The job uses a model it does not list: ${hash.slice(0, 12)}…`);
      return dir;
    };
    const { request: farmRequest, images: sent } = data;
    // Every image must be the one the request names by hash.
    const image = async (base64: string | undefined, ref: { sha256?: string } | undefined, label: string) => {
      if (base64 === undefined) return undefined;
      const decoded = await decodePngBase64(base64, label);
      if (!ref || ref.sha256 !== decoded.sha256) throw new ApiError('bad_request', `The job's ${label} is not the one its request names`);
      return decoded.image;
    };
    const images: PipelineImages = {
      init: await image(sent.init, farmRequest.init as { sha256?: string } | undefined, 'init image'),
      mask: await image(sent.mask, farmRequest.inpaint?.mask as { sha256?: string } | undefined, 'inpainting mask'),
      controls: [],
    };
    if (sent.controls.length !== farmRequest.controls.length) throw new ApiError('bad_request', 'The job has not one image per control');
    for (const [i, c] of farmRequest.controls.entries()) images.controls!.push((await image(sent.controls[i], c.image as { sha256?: string }, `control image ${i + 1}`))!);
    const regions = farmRequest.regions ?? [];
    if ((sent.regions ?? []).length !== regions.length) throw new ApiError('bad_request', 'The job has not one mask per region');
    if (regions.length > 0) {
      images.regions = [];
      for (const [i, r] of regions.entries()) images.regions.push((await image(sent.regions![i], r.mask as { sha256?: string }, `region ${i + 1}'s mask`))!);
    }
    const request: GenerationRequest = {
      ...farmRequest,
      model: folder(farmRequest.model),
      controls: farmRequest.controls.map((c) => ({ ...c, model: folder(c.model) })),
      // A refiner names a listed model by hash as well; a path from the studio is never opened here.
      ...(farmRequest.refiner ? { refiner: { ...farmRequest.refiner, model: folder(farmRequest.refiner.model) } } : {}),
    };

    let device = this.device;
    let lastPreviewAt = -Infinity;
    let chain = Promise.resolve();
    const report = (p: Omit<FarmProgress, 'device' | 'workerId'>) => {
      chain = chain.then(() => job.updateProgress({ ...p, device, workerId: this.id })).catch((e: unknown) => this.log(`atelier worker: progress of ${job.id}: ${String(e)}`));
    };
    const onProgress = (p: PipelineProgress) => {
      const now = Date.now();
      const wantPreview = p.latentPreview !== undefined && now - lastPreviewAt >= (this.options.previewIntervalMs ?? 500);
      if (wantPreview) lastPreviewAt = now;
      // A preview that cannot be encoded is skipped, never the progress it rides on.
      const preview = wantPreview && p.latentPreview ? encodePng(p.latentPreview, { compressionLevel: 1 }).then((png) => png.toString('base64'), () => undefined) : undefined;
      chain = chain
        .then(async () => job.updateProgress({ device, workerId: this.id, step: p.step, totalSteps: p.totalSteps, candidateIndex: p.candidateIndex, ...((await preview) ? { preview: await preview } : {}) }))
        .catch((e: unknown) => this.log(`atelier worker: progress of ${job.id}: ${String(e)}`));
    };
    const result = await engine
      .generate(request, images, {
        signal,
        onLoaded: ({ device: dev }) => {
          device = dev;
          this.device = dev;
          report({ step: 0, totalSteps: request.steps, candidateIndex: 0 });
        },
        onProgress,
      })
      .finally(() => chain);
    const candidates = [];
    for (const c of result.candidates) candidates.push({ index: c.index, seed: c.seed, png: (await encodePng(c.image, { compressionLevel: 1 })).toString('base64') });
    return { device: result.device, workerId: this.id, timings: result.timings, candidates };
  }

  /** Stops taking jobs, lets running ones finish (or `force`: abandons them to the stalled check), and disconnects. */
  async close(force = false): Promise<void> {
    if (this.advertTimer) clearInterval(this.advertTimer);
    if (force) for (const abort of this.running.values()) abort.abort();
    await this.worker?.close(force);
    await this.redis?.del(workerKey(this.id)).catch(() => 0); // the advert expires by itself anyway
    for (const client of [this.subscriber, this.redis]) await client?.quit().catch(() => client.disconnect()); // already gone is closed enough
    for (const engine of this.engines) await engine.close();
  }
}

function safeJson(text: string | null): unknown {
  try {
    return text === null ? undefined : JSON.parse(text);
  } catch {
    return undefined; // not an advert of ours: skipped
  }
}
