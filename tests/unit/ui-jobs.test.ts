import { describe, expect, it } from 'vitest';
import { type CandidateSummary, GenerationRequest } from '../../app/contract/index.js';
import { EARLIER_BATCHES, type JobsState, reduceJobs, stageBatch } from '../../renderer/src/state/jobs.js';

// The renderer's job-event handling as a pure reducer: every transition and its effects.

const empty: JobsState = { jobs: [], staging: [], earlier: [], compare: [], live: null };
const request = { model: 'starter', prompt: 'a lake', seed: 10, batch: 2 };

function candidate(index: number): CandidateSummary {
  return { id: `c${index}`, index, seed: 10 + index, sha256: String(index).repeat(64), width: 64, height: 64, url: `/media/images/${String(index).repeat(64)}.png` };
}

function run(state: JobsState, ...actions: Parameters<typeof reduceJobs>[1][]) {
  const effects = [];
  for (const action of actions) {
    const next = reduceJobs(state, action);
    state = next.state;
    effects.push(...next.effects);
  }
  return { state, effects };
}

describe('job events reducer', () => {
  it('follows a job from submission through progress to its candidates', () => {
    const submitted = run(empty, { type: 'submitted', jobId: 'j1', request, purpose: 'generate' });
    expect(submitted.state.jobs).toEqual([{ jobId: 'j1', state: 'queued', request, purpose: 'generate' }]);
    const running = run(
      submitted.state,
      { type: 'job.queued', jobId: 'j1', position: 0 },
      { type: 'job.started', jobId: 'j1', device: 'cpu', totalSteps: 20 },
      { type: 'job.progress', jobId: 'j1', step: 5, totalSteps: 20, elapsedMs: 500, etaMs: 1500, preview: 'iVBOR' },
    );
    expect(running.effects).toEqual([]);
    expect(running.state.jobs[0]).toMatchObject({ state: 'running', position: 0, device: 'cpu', step: 5, totalSteps: 20, etaMs: 1500, preview: 'data:image/png;base64,iVBOR', request });
    const staleCompare = { ...running.state, compare: ['old'] };
    const done = run(staleCompare, { type: 'job.completed', jobId: 'j1', generationId: 'g1', candidates: [candidate(0), candidate(1)] });
    expect(done.state.jobs).toEqual([]);
    expect(done.state.compare).toEqual([]);
    // Each staged candidate carries the request that makes exactly it again.
    expect(done.state.staging.map((c) => [c.id, c.generationId, c.request.seed, c.request.batch, c.request.prompt])).toEqual([
      ['c0', 'g1', 10, 1, 'a lake'],
      ['c1', 'g1', 11, 1, 'a lake'],
    ]);
    expect(done.effects).toEqual([{ kind: 'completed', generationId: 'g1', candidates: done.state.staging, job: expect.objectContaining({ jobId: 'j1', purpose: 'generate' }) }]);
  });

  it('adds a job first heard of through an event (another window queued it)', () => {
    const { state } = run(empty, { type: 'job.started', jobId: 'other', device: 'webgpu', totalSteps: 8 });
    expect(state.jobs).toEqual([expect.objectContaining({ jobId: 'other', state: 'running', purpose: 'generate', device: 'webgpu' })]);
  });

  it('drops a failed or cancelled job with a toast saying which', () => {
    const start = run(empty, { type: 'submitted', jobId: 'j1', request, purpose: 'refine' }, { type: 'submitted', jobId: 'j2', request, purpose: 'generate' }).state;
    const failed = run(start, { type: 'job.failed', jobId: 'j1', cancelled: false, error: { code: 'internal', message: 'out of memory' } });
    expect(failed.state.jobs.map((j) => j.jobId)).toEqual(['j2']);
    expect(failed.effects).toEqual([{ kind: 'toast', level: 'error', message: 'Generation failed: out of memory' }]);
    const cancelled = run(failed.state, { type: 'job.failed', jobId: 'j2', cancelled: true, error: { code: 'cancelled', message: 'cancelled' } });
    expect(cancelled.state.jobs).toEqual([]);
    expect(cancelled.effects).toEqual([{ kind: 'toast', level: 'info', message: 'Generation cancelled' }]);
  });

  it('leaves the state as it was for events that are not about jobs', () => {
    const state = run(empty, { type: 'submitted', jobId: 'j1', request, purpose: 'generate' }).state;
    const next = reduceJobs(state, { type: 'project.autosaved', sessionId: 's', savedAt: 'now' });
    expect(next.state).toBe(state);
    expect(next.effects).toEqual([]);
  });

  it('never changes the state it was given', () => {
    const state = run(empty, { type: 'submitted', jobId: 'j1', request, purpose: 'generate' }).state;
    const frozen = JSON.stringify(state);
    run(state, { type: 'job.progress', jobId: 'j1', step: 1, totalSteps: 2, elapsedMs: 1, etaMs: 1 }, { type: 'job.completed', jobId: 'j1', generationId: 'g', candidates: [candidate(0)] });
    expect(JSON.stringify(state)).toBe(frozen);
  });

  it('keeps earlier batches in the strip, newest first, each generation once', () => {
    const complete = (state: JobsState, g: string) =>
      run(state, { type: 'submitted', jobId: `j${g}`, request, purpose: 'generate' }, { type: 'job.completed', jobId: `j${g}`, generationId: g, candidates: [{ ...candidate(0), id: `${g}c0` }] }).state;
    let state = complete(empty, 'g1');
    expect(state.earlier).toEqual([]);
    state = complete(complete(state, 'g2'), 'g3');
    expect(state.staging[0]?.generationId).toBe('g3');
    expect(state.earlier.map((b) => b.generationId)).toEqual(['g2', 'g1']);
    // Bringing an earlier batch back swaps it with the one shown; none is listed twice.
    const g1 = state.earlier[1]!.candidates;
    const back = stageBatch(state, g1);
    expect(back.staging).toBe(g1);
    expect(back.earlier.map((b) => b.generationId)).toEqual(['g3', 'g2']);
    // Showing the batch already shown changes nothing.
    expect(stageBatch(back, g1).earlier).toBe(back.earlier);
    // Bounded: the oldest fall off the strip.
    for (let i = 0; i < EARLIER_BATCHES + 3; i++) state = complete(state, `h${i}`);
    expect(state.earlier).toHaveLength(EARLIER_BATCHES);
    expect(state.earlier[0]?.generationId).toBe(`h${EARLIER_BATCHES + 1}`);
  });

  it('gives each candidate of a variation run its own variation seed, the seed kept', () => {
    const varied = { ...request, variation: { seed: 500, strength: 0.3 } };
    const done = run(
      empty,
      { type: 'submitted', jobId: 'v', request: varied, purpose: 'variations' },
      { type: 'job.completed', jobId: 'v', generationId: 'g', candidates: [{ ...candidate(0), seed: 10 }, { ...candidate(1), seed: 10 }] },
    );
    expect(done.state.staging.map((c) => [c.request.seed, c.request.variation?.seed, c.request.batch])).toEqual([
      [10, 500, 1],
      [10, 501, 1],
    ]);
  });

  it('takes the studio\'s job list after a reconnection: gone jobs leave with a note, new ones join', () => {
    const mine = run(empty, { type: 'submitted', jobId: 'kept', request, purpose: 'refine' }, { type: 'submitted', jobId: 'gone', request, purpose: 'generate' }).state;
    const serverRequest = GenerationRequest.parse({ ...request, prompt: 'queued again' });
    const synced = run(mine, {
      type: 'synced',
      jobs: [
        { jobId: 'kept', state: 'running', request: serverRequest, queuedAt: '2026-01-01T00:00:00Z', step: 3, totalSteps: 20 },
        { jobId: 'requeued', state: 'queued', request: serverRequest, queuedAt: '2026-01-01T00:00:01Z' },
        { jobId: 'old', state: 'completed', request: serverRequest, queuedAt: '2026-01-01T00:00:00Z' },
      ],
    });
    expect(synced.state.jobs.map((j) => [j.jobId, j.state, j.purpose, j.request.prompt, j.step])).toEqual([
      ['kept', 'running', 'refine', 'a lake', 3],
      ['requeued', 'queued', 'generate', 'queued again', undefined],
    ]);
    expect(synced.effects).toEqual([{ kind: 'toast', level: 'info', message: expect.stringMatching(/^1 job ended while the studio was unreachable/) }]);
    // Nothing lost, nothing said.
    expect(run(synced.state, { type: 'synced', jobs: [] }).effects).toHaveLength(1);
    expect(run(empty, { type: 'synced', jobs: [] }).effects).toEqual([]);
  });

  it('puts a live preview beside the canvas, not in the strip, and cancels it quietly', () => {
    const previewRequest = { ...request, batch: 1, preview: true };
    const shown = run(
      empty,
      { type: 'submitted', jobId: 'l1', request: previewRequest, purpose: 'live' },
      { type: 'job.completed', jobId: 'l1', generationId: 'preview_l1', candidates: [{ ...candidate(0), url: 'data:image/png;base64,AAA' }] },
    );
    expect(shown.state.live).toEqual({ jobId: 'l1', url: 'data:image/png;base64,AAA', seed: 10, width: 64, height: 64, request: previewRequest });
    expect(shown.state.staging).toEqual([]);
    expect(shown.effects).toEqual([]);
    const stale = run(shown.state, { type: 'submitted', jobId: 'l2', request: previewRequest, purpose: 'live' }, { type: 'job.failed', jobId: 'l2', cancelled: true, error: { code: 'cancelled', message: 'cancelled' } });
    expect(stale.effects).toEqual([]);
    expect(stale.state.jobs).toEqual([]);
    expect(stale.state.live?.jobId).toBe('l1');
  });
});
