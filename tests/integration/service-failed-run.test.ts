import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, GenerationRequest, type StudioEvent } from '../../app/contract/index.js';
import type { EngineClient } from '../../app/engine/client.js';
import type { RecordGenerationInput } from '../../app/library/index.js';
import { type GenerationLibrary, createGenerationArea } from '../../app/service/generation-handlers.js';
import { tempHome } from '../helpers/home.js';

// A run that fails after it started is filed in the library (status failed). When filing it
// fails too, the artist still gets the run's own error, and the second failure is logged
// rather than dropped (docs/architecture.md, "Lint habits").
const { home, cleanup } = tempHome();
afterAll(cleanup);
afterEach(() => vi.restoreAllMocks());

function areaWith(recordGeneration: (input: RecordGenerationInput) => Promise<never>) {
  const events: StudioEvent[] = [];
  // The engine fails the way a crashed worker does; the registry still reads the real tiny model.
  const engine = {
    generate: () => Promise.reject(new ApiError('engine_failed', 'the engine worker stopped (SIGKILL)')),
    close: () => Promise.resolve(),
  } as unknown as EngineClient;
  const library: GenerationLibrary = { recordGeneration, hasImage: () => false, imagePath: () => '', modelHash: () => 'hash', contentHash: () => 'hash' };
  const area = createGenerationArea({ home, transport: 'cli', emit: (e) => events.push(e), library, engine, starterDir: path.resolve('tests/fixtures/models/sd1-tiny') });
  const generate = async () => (await area.handlers.generate({ request: GenerationRequest.parse({ model: 'starter', prompt: 'a fox', seed: 7, steps: 2 }) } as never, {} as never)).jobId;
  return { area, events, generate };
}

describe('a failed run whose recording fails too', () => {
  it('reports the run’s error to the artist and logs the recording’s', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const recorded: RecordGenerationInput[] = [];
    const { area, events, generate } = areaWith(async (input) => {
      recorded.push(input);
      throw new Error('SQLITE_FULL: database or disk is full');
    });
    const jobId = await generate();
    await expect.poll(() => logged.mock.calls.length, { timeout: 30_000 }).toBe(1);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ status: 'failed', error: 'the engine worker stopped (SIGKILL)', candidates: [] });
    expect(events).toContainEqual({ type: 'job.failed', jobId, cancelled: false, error: { code: 'engine_failed', message: 'the engine worker stopped (SIGKILL)' } });
    expect(String(logged.mock.calls[0]![0])).toBe(`atelier: job ${jobId} failed (the engine worker stopped (SIGKILL)); recording it in the library failed too: SQLITE_FULL: database or disk is full`);
    // Nothing was filed, so nothing is announced as recorded.
    expect(events.some((e) => e.type === 'library.changed')).toBe(false);
    await area.close();
  });
});
