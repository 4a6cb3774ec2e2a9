import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiError, GenerationRequest, type StudioEvent } from '../../app/contract/index.js';
import type { GenerationRecord } from '../../app/contract/library.js';
import type { EngineClient } from '../../app/engine/client.js';
import type { RecordGenerationInput } from '../../app/library/index.js';
import { type GenerationLibrary, INTERRUPTED, createGenerationArea } from '../../app/service/generation-handlers.js';
import { JobJournal } from '../../app/service/job-journal.js';
import { tempHome } from '../helpers/home.js';

// The local queue's journal (app/service/job-journal.ts): jobs are on disk while they wait or
// run; a studio started after a crash queues the waiting ones again and records the one that
// was running as failed, with the reason — none silently gone.
const { home, cleanup } = tempHome();
afterAll(cleanup);

const request = (seed: number, extra: Record<string, unknown> = {}) => GenerationRequest.parse({ model: 'starter', prompt: `job ${seed}`, seed, steps: 2, ...extra });

/** An engine that runs until it is cancelled, like a long generation. */
const engine = {
  generate: (_r: unknown, _i: unknown, opts: { signal: AbortSignal }) =>
    new Promise((_resolve, reject) => opts.signal.addEventListener('abort', () => reject(new ApiError('cancelled', 'cancelled')))),
  close: () => Promise.resolve(),
} as unknown as EngineClient;

function area(journal: JobJournal, recorded: RecordGenerationInput[], events: StudioEvent[]) {
  const library: GenerationLibrary = {
    recordGeneration: (input) => {
      recorded.push(input);
      return Promise.resolve({ id: `g${recorded.length}` } as GenerationRecord);
    },
    hasImage: () => false,
    imagePath: () => '',
    modelHash: () => 'hash',
    contentHash: () => 'hash',
  };
  return createGenerationArea({ home, transport: 'cli', emit: (e) => events.push(e), library, engine, journal, starterDir: path.resolve('tests/fixtures/models/sd1-tiny') });
}

/** Runs `code` (with JobJournal in scope) in a child Node process that then exits. */
function inAnotherProcess(code: string): void {
  const script = `import { JobJournal } from './app/service/job-journal.ts';\n${code}`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`child failed: ${result.stderr}`);
}

describe('the job journal', () => {
  it('leaves the jobs of a process still running to it', () => {
    const dir = path.join(home, 'shared');
    const journal = JobJournal.open(dir);
    journal.add('j_mine', request(1), '2026-01-01T00:00:00.000Z');
    inAnotherProcess(`const j = JobJournal.open(${JSON.stringify(dir)}); j.add('j_gone', ${JSON.stringify(request(2))}, 'x'); j.close();`);
    expect(journal.entries().entries.map((e) => e.jobId)).toEqual(['j_mine', 'j_gone']);
    expect(journal.entries({ left: true }).entries.map((e) => e.jobId)).toEqual(['j_gone']);
    journal.close();
  });

  it('keeps jobs while they wait and run, and lets them go when they end', async () => {
    const journal = JobJournal.open(path.join(home, 'live'));
    const recorded: RecordGenerationInput[] = [];
    const events: StudioEvent[] = [];
    const a = area(journal, recorded, events);
    const first = (await a.handlers.generate({ request: request(1) } as never, {} as never)).jobId;
    const second = (await a.handlers.generate({ request: request(2) } as never, {} as never)).jobId;
    await expect.poll(() => journal.entries().entries.map((e) => [e.jobId, e.state]), { timeout: 30_000 }).toEqual([
      [first, 'running'],
      [second, 'queued'],
    ]);
    // A queued job cancelled leaves at once; the running one when it has been recorded.
    await a.handlers['jobs.cancel']({ jobId: second } as never, {} as never);
    expect(journal.entries().entries.map((e) => e.jobId)).toEqual([first]);
    await a.handlers['jobs.cancel']({ jobId: first } as never, {} as never);
    await expect.poll(() => journal.entries().entries.length, { timeout: 30_000 }).toBe(0);
    expect(recorded.map((r) => r.status)).toEqual(['cancelled']);
    await a.close();
  });

  it('after a crash: the running job is recorded failed with the reason, waiting ones run again', async () => {
    const dir = path.join(home, 'crashed');
    // Another process queues four jobs, starts the first, and is gone.
    const left = [
      ['j_was_running', request(10)],
      ['j_waiting', request(11)],
      ['j_lost_image', request(12, { init: { sha256: 'e'.repeat(64) } })],
      ['j_waiting_too', request(13)],
    ];
    inAnotherProcess(
      `const j = JobJournal.open(${JSON.stringify(dir)});
       for (const [id, r] of ${JSON.stringify(left)}) j.add(id, r, new Date().toISOString());
       j.markRunning('j_was_running');
       j.close();`,
    );

    const journal = JobJournal.open(dir);
    const recorded: RecordGenerationInput[] = [];
    const events: StudioEvent[] = [];
    const a = area(journal, recorded, events);
    await a.recovered;
    expect(recorded.map((r) => [r.request.seed, r.status])).toEqual([
      [10, 'failed'],
      [12, 'failed'],
    ]);
    expect(recorded[0]!.error).toBe(INTERRUPTED);
    expect(recorded[1]!.error).toMatch(/could not be queued again: .*e{12}/);
    // The waiting ones are queued again in their order, under new ids the journal now holds.
    const jobs = a.queue.list();
    expect(jobs.map((j) => j.request.seed)).toEqual([11, 13]);
    await expect.poll(() => journal.entries().entries.map((e) => [e.jobId, e.state]), { timeout: 30_000 }).toEqual([
      [jobs[0]!.jobId, 'running'],
      [jobs[1]!.jobId, 'queued'],
    ]);
    expect(events.filter((e) => e.type === 'job.queued').map((e) => e.jobId)).toEqual(jobs.map((j) => j.jobId));
    await a.close();
    // Closed cleanly: the running one was cancelled and recorded; the waiting one stays for the next start.
    const after = JobJournal.open(dir);
    expect(after.entries().entries.map((e) => [e.request.seed, e.state])).toEqual([[13, 'queued']]);
    after.close();
  });

  it('neither journals nor records a live preview', async () => {
    const journal = JobJournal.open(path.join(home, 'previews'));
    const recorded: RecordGenerationInput[] = [];
    const events: StudioEvent[] = [];
    const a = area(journal, recorded, events);
    const jobId = (await a.handlers.generate({ request: request(5, { preview: true }) } as never, {} as never)).jobId;
    expect(journal.entries().entries).toEqual([]);
    // Cancelled while it runs: a run that started and stopped is history, but not a preview.
    await expect.poll(() => a.queue.get(jobId)?.state, { timeout: 30_000 }).toBe('running');
    await a.handlers['jobs.cancel']({ jobId } as never, {} as never);
    await expect.poll(() => events.some((e) => e.type === 'job.failed' && e.jobId === jobId), { timeout: 30_000 }).toBe(true);
    expect(recorded).toEqual([]);
    await a.close();
  });
});

