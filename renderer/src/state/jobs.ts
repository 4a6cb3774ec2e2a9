import type { CandidateSummary, GenerationRequestInput, JobSummary, StudioEvent } from '../../../app/contract/index.js';

// The renderer's view of generation jobs, driven by the service's job events: a pure reducer
// (state, event) → (state, effects), so every transition is testable without a browser, a
// server or timers. The controller (studio.ts) applies the state and carries out the effects.

export interface JobView {
  jobId: string;
  state: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
  request: GenerationRequestInput;
  /** What the artist asked for: a first pass, a refinement of a candidate, variations, or a live preview. */
  purpose: 'generate' | 'refine' | 'variations' | 'live';
  position?: number;
  step?: number;
  totalSteps?: number;
  elapsedMs?: number;
  etaMs?: number;
  /** data: URL of the latest live preview. */
  preview?: string;
  device?: string;
}

export interface StagedCandidate extends CandidateSummary {
  generationId: string;
  /** The request that makes exactly this candidate again (its own seed, a batch of one). */
  request: GenerationRequestInput;
}

/** One generation's candidates, as the strip keeps earlier batches. */
export interface StagedBatch {
  generationId: string;
  candidates: readonly StagedCandidate[];
}

/** How many earlier batches the strip keeps reachable (older ones stay in Iterations and History). */
export const EARLIER_BATCHES = 24;

/** Live mode's latest preview (docs: issue 15): pixels inline, not in the library. */
export interface LivePreview {
  jobId: string;
  /** data: URL of the PNG. */
  url: string;
  seed: number;
  width: number;
  height: number;
  /** The request as sent, for keeping it as a candidate (a full run of the same request). */
  request: GenerationRequestInput;
  /** When it arrived (performance clock of the window), for latency reports. */
  at?: number;
}

/** The slice of the studio's state that job events change. */
export interface JobsState {
  /** Live mode's newest preview; an older one stays until a newer arrives. */
  live: LivePreview | null;
  jobs: readonly JobView[];
  /** The latest finished generation's candidates (the staging strip). */
  staging: readonly StagedCandidate[];
  /** The batches the strip showed before, newest first (docs: issue 15, the strip keeps its history). */
  earlier: readonly StagedBatch[];
  /** Candidate ids chosen for side-by-side compare. */
  compare: readonly string[];
}

/** What the controller does after a transition: things that are not state. */
export type JobEffect =
  | { kind: 'toast'; level: 'error' | 'info'; message: string }
  /** A generation finished: the document files its candidates (and lineage). */
  | { kind: 'completed'; generationId: string; candidates: StagedCandidate[]; job: JobView | undefined };

export type JobAction =
  | StudioEvent
  /** The service accepted a request this window sent (before any event about it arrives). */
  | { type: 'submitted'; jobId: string; request: GenerationRequestInput; purpose: JobView['purpose'] }
  /**
   * The studio's own job list, asked for after the connection came back: jobs it no longer
   * has ended while this window could not hear (after a crash the service queued waiting
   * ones again under new ids and recorded the running one as failed: the history has it).
   */
  | { type: 'synced'; jobs: readonly JobSummary[] };

export interface JobTransition {
  state: JobsState;
  effects: JobEffect[];
}

const NO_REQUEST: GenerationRequestInput = { model: '', prompt: '', seed: 0 };

/** Merges news about a job into the list; a job first heard of through an event (another window's) is added. */
function upsert(jobs: readonly JobView[], job: Partial<JobView> & { jobId: string }): JobView[] {
  if (jobs.some((j) => j.jobId === job.jobId)) return jobs.map((j) => (j.jobId === job.jobId ? { ...j, ...job } : j));
  return [...jobs, { state: 'queued', request: NO_REQUEST, purpose: 'generate', ...job }];
}

function without(jobs: readonly JobView[], jobId: string): JobView[] {
  return jobs.filter((j) => j.jobId !== jobId);
}

/**
 * Brings `candidates` (one generation's) to the front of the strip: the batch shown until now
 * moves to the front of the earlier ones, and the batch brought forward leaves them, so each
 * generation appears once.
 */
export function stageBatch(state: Pick<JobsState, 'staging' | 'earlier'>, candidates: readonly StagedCandidate[]): Pick<JobsState, 'staging' | 'earlier'> {
  const shown = state.staging[0]?.generationId;
  const next = candidates[0]?.generationId;
  if (shown !== undefined && shown === next) return { staging: candidates, earlier: state.earlier };
  const kept = state.earlier.filter((b) => b.generationId !== next && b.generationId !== shown);
  const earlier = shown !== undefined ? [{ generationId: shown, candidates: state.staging }, ...kept] : kept;
  return { staging: candidates, earlier: earlier.slice(0, EARLIER_BATCHES) };
}

/**
 * The request that makes exactly candidate `c` again: its own seed, a batch of one; with a
 * variation seed, the candidate kept the seed and used variation seed + index (A1111's rule).
 */
export function candidateRequest(request: GenerationRequestInput, c: Pick<CandidateSummary, 'seed' | 'index'>): GenerationRequestInput {
  const v = request.variation;
  const variation = v && v.strength > 0 ? { variation: { ...v, seed: v.seed + c.index } } : {};
  return { ...request, seed: c.seed, batch: 1, ...variation };
}

/** The next state after an action, and what else must happen. Events that are not about jobs change nothing. */
export function reduceJobs(state: JobsState, action: JobAction): JobTransition {
  switch (action.type) {
    case 'submitted':
      return { state: { ...state, jobs: upsert(state.jobs, { jobId: action.jobId, state: 'queued', request: action.request, purpose: action.purpose }) }, effects: [] };
    case 'synced': {
      const active = action.jobs.filter((j) => j.state === 'queued' || j.state === 'running');
      const known = new Set(active.map((j) => j.jobId));
      const lost = state.jobs.filter((j) => !known.has(j.jobId));
      let jobs: JobView[] = state.jobs.filter((j) => known.has(j.jobId));
      for (const j of active) {
        jobs = upsert(jobs, {
          jobId: j.jobId,
          state: j.state as 'queued' | 'running',
          request: state.jobs.find((mine) => mine.jobId === j.jobId)?.request ?? j.request,
          ...(j.step !== undefined ? { step: j.step } : {}),
          ...(j.totalSteps !== undefined ? { totalSteps: j.totalSteps } : {}),
        });
      }
      const effects: JobEffect[] =
        lost.length > 0
          ? [{ kind: 'toast', level: 'info', message: `${lost.length} ${lost.length === 1 ? 'job' : 'jobs'} ended while the studio was unreachable: History has how each ended (after a crash, waiting jobs are queued again)` }]
          : [];
      return { state: { ...state, jobs }, effects };
    }
    case 'job.queued':
      return { state: { ...state, jobs: upsert(state.jobs, { jobId: action.jobId, position: action.position }) }, effects: [] };
    case 'job.started':
      return {
        state: { ...state, jobs: upsert(state.jobs, { jobId: action.jobId, state: 'running', device: action.device, totalSteps: action.totalSteps, step: 0 }) },
        effects: [],
      };
    case 'job.progress':
      return {
        state: {
          ...state,
          jobs: upsert(state.jobs, {
            jobId: action.jobId,
            state: 'running',
            step: action.step,
            totalSteps: action.totalSteps,
            elapsedMs: action.elapsedMs,
            etaMs: action.etaMs,
            ...(action.preview ? { preview: `data:image/png;base64,${action.preview}` } : {}),
          }),
        },
        effects: [],
      };
    case 'job.completed': {
      const job = state.jobs.find((j) => j.jobId === action.jobId);
      if (job?.purpose === 'live') {
        // A preview goes beside the canvas, not into the strip or the document.
        const c = action.candidates[0];
        const live = c ? { jobId: action.jobId, url: c.url, seed: c.seed, width: c.width, height: c.height, request: job.request } : state.live;
        return { state: { ...state, jobs: without(state.jobs, action.jobId), live }, effects: [] };
      }
      const request = job?.request ?? NO_REQUEST;
      const staging = action.candidates.map((c) => ({ ...c, generationId: action.generationId, request: candidateRequest(request, c) }));
      return {
        state: { ...state, ...stageBatch(state, staging), jobs: without(state.jobs, action.jobId), compare: [] },
        effects: [{ kind: 'completed', generationId: action.generationId, candidates: staging, job }],
      };
    }
    case 'job.failed':
      // Live previews are cancelled at every new stroke: that is their way, not news.
      if (state.jobs.find((j) => j.jobId === action.jobId)?.purpose === 'live' && action.cancelled) return { state: { ...state, jobs: without(state.jobs, action.jobId) }, effects: [] };
      return {
        state: { ...state, jobs: without(state.jobs, action.jobId) },
        effects: [action.cancelled ? { kind: 'toast', level: 'info', message: 'Generation cancelled' } : { kind: 'toast', level: 'error', message: `Generation failed: ${action.error.message}` }],
      };
    default:
      return { state, effects: [] };
  }
}
