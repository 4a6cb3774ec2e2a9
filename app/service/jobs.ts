import crypto from 'node:crypto';
import { ApiError, type GenerationRequest, type JobSummary } from '../contract/index.js';

// A first-in, first-out queue of generation jobs, run one at a time (one engine worker, one
// model in memory). It knows nothing of the engine: `run` does the work and reports steps;
// the queue tracks state, cancellation and the list the UI shows. It is bounded: a waiting
// job holds its decoded images (up to six 4096² RGBA images, ~400 MB), so an unbounded queue
// is a way to run the studio out of memory (issue 17).

/** Jobs that may wait behind the running one unless the caller sets its own bound. */
export const DEFAULT_MAX_WAITING = 32;

export type JobState = JobSummary['state'];

export interface Job<P> {
  id: string;
  request: GenerationRequest;
  /** What `run` needs beyond the request (decoded images and the like). */
  payload: P;
  state: JobState;
  queuedAt: string;
  step?: number;
  totalSteps?: number;
  abort: AbortController;
}

/**
 * Where jobs wait and run, as the generation handlers see it: this process's JobQueue (the
 * embedded default), or a farm's shared queue on Redis (app/service/farm, docs/farm.md).
 * `enqueue` answers at once with the job; its outcome comes as events. `cancel` leaves a
 * queued job 'cancelled' when it never started; one that did reports its end by events.
 */
export interface JobBackend<P> {
  assertRoom(): void;
  enqueue(request: GenerationRequest, payload: P): Job<P>;
  cancel(jobId: string): boolean | Promise<boolean>;
  get(jobId: string): Job<P> | undefined;
  list(): JobSummary[];
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export interface JobQueueOptions<P> {
  run(job: Job<P>): Promise<void>;
  /** Called as a job joins the queue, with the number of jobs ahead of it (the running one included). */
  onQueued?(job: Job<P>, position: number): void;
  /** Finished jobs kept for jobs.list. */
  keepFinished?: number;
  /** Jobs that may wait behind the running one; past it `enqueue` refuses with `busy`. */
  maxWaiting?: number;
}

export class JobQueue<P> implements JobBackend<P> {
  private readonly waiting: Array<Job<P>> = [];
  private running: Job<P> | undefined;
  private readonly finished: Array<Job<P>> = [];
  private idleWaiters: Array<() => void> = [];
  private stopped = false;

  constructor(private readonly options: JobQueueOptions<P>) {}

  /** Jobs waiting to start (the running one not counted). */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Throws `busy` when one more job would not fit; callers check before costly preparation too. */
  assertRoom(): void {
    const max = this.options.maxWaiting ?? DEFAULT_MAX_WAITING;
    if (this.stopped) throw new ApiError('busy', 'The studio is closing and takes no new jobs');
    if (this.waiting.length >= max) {
      throw new ApiError('busy', `${this.waiting.length} jobs are already waiting, the most the queue holds; cancel some or wait for them to finish`, { waiting: this.waiting.length, maxWaiting: max });
    }
  }

  enqueue(request: GenerationRequest, payload: P): Job<P> {
    this.assertRoom();
    const job: Job<P> = { id: `j_${crypto.randomUUID()}`, request, payload, state: 'queued', queuedAt: new Date().toISOString(), abort: new AbortController() };
    this.waiting.push(job);
    // Position counts the running job: 0 = next to start with nothing ahead.
    this.options.onQueued?.(job, this.waiting.length - 1 + (this.running ? 1 : 0));
    queueMicrotask(() => this.pump());
    return job;
  }

  /** Cancels a queued job at once, a running one at its next step. False when unknown or already finished. */
  cancel(jobId: string): boolean {
    const queuedAt = this.waiting.findIndex((j) => j.id === jobId);
    if (queuedAt >= 0) {
      const [job] = this.waiting.splice(queuedAt, 1);
      job!.abort.abort();
      job!.state = 'cancelled';
      this.retire(job!);
      return true;
    }
    if (this.running?.id === jobId && !this.running.abort.signal.aborted) {
      this.running.abort.abort();
      return true;
    }
    return false;
  }

  get(jobId: string): Job<P> | undefined {
    return this.running?.id === jobId ? this.running : (this.waiting.find((j) => j.id === jobId) ?? this.finished.find((j) => j.id === jobId));
  }

  list(): JobSummary[] {
    const all = [...this.finished, ...(this.running ? [this.running] : []), ...this.waiting];
    return all.map((j) => ({
      jobId: j.id,
      state: j.state,
      request: j.request,
      queuedAt: j.queuedAt,
      ...(j.step !== undefined ? { step: j.step } : {}),
      ...(j.totalSteps !== undefined ? { totalSteps: j.totalSteps } : {}),
    }));
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (!this.running && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Cancels everything and waits for the running job to settle. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const job of this.waiting.splice(0)) {
      job.abort.abort();
      job.state = 'cancelled';
      this.retire(job);
    }
    this.running?.abort.abort();
    await this.idle();
  }

  private pump(): void {
    if (this.running || this.stopped) {
      if (!this.running) this.notifyIdle();
      return;
    }
    const job = this.waiting.shift();
    if (!job) {
      this.notifyIdle();
      return;
    }
    this.running = job;
    job.state = 'running';
    void this.options
      .run(job)
      .catch(() => {
        // `run` reports its own failures; a throw here only marks the state.
        if (job.state === 'running') job.state = job.abort.signal.aborted ? 'cancelled' : 'failed';
      })
      .finally(() => {
        if (job.state === 'running') job.state = 'completed';
        this.running = undefined;
        this.retire(job);
        this.pump();
      });
  }

  private retire(job: Job<P>): void {
    this.finished.push(job);
    const keep = this.options.keepFinished ?? 50;
    if (this.finished.length > keep) this.finished.splice(0, this.finished.length - keep);
  }

  private notifyIdle(): void {
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
