import { describe, expect, it } from 'vitest';
import type { CandidateSummary } from '../../app/contract/index.js';
import { type JobsState, reduceJobs } from '../../renderer/src/state/jobs.js';

// The renderer's job-event handling as a pure reducer: every transition and its effects.

const empty: JobsState = { jobs: [], staging: [], compare: [] };
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
});
