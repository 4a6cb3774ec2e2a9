import { describe, expect, it } from 'vitest';
import { GenerationRequest, type MethodName, type Params, type StudioApi, type StudioEvent } from '../../app/contract/index.js';
import { LocalPersistence } from '../../renderer/src/state/persistence.js';
import { StudioController } from '../../renderer/src/state/studio.js';

// The controller's generate path: the panel settings through the one mapping to a request,
// the job filed through the reducer, the seed advanced by the policy.

function controller() {
  const sent: Array<{ method: MethodName; params: unknown }> = [];
  let listener: (event: StudioEvent) => void = () => undefined;
  const api: StudioApi = {
    call: <M extends MethodName>(method: M, params: Params<M>) => {
      sent.push({ method, params });
      return Promise.resolve({ jobId: `job${sent.length}` } as never);
    },
    subscribe: (l) => {
      listener = l;
      return () => undefined;
    },
  };
  const studio = new StudioController(api, new LocalPersistence(undefined));
  studio.connect();
  return { studio, sent, emit: (event: StudioEvent) => listener(event) };
}

describe('StudioController.generate', () => {
  it('builds the request from the settings and the canvas inputs, and advances the seed', async () => {
    const { studio, sent } = controller();
    studio.updateSettings({ prompt: 'a barn', seed: 100, seedPolicy: 'increment', batch: 3, strength: 0.3, maskBlur: 9 });
    const mask = { png: 'iVBORw0KGgo=' };
    const jobId = await studio.generate({ init: { sha256: 'a'.repeat(64) }, mask, parentCandidateId: 'c1' }, 'refine');
    expect(jobId).toBe('job1');
    const request = GenerationRequest.parse((sent[0]!.params as { request: unknown }).request);
    expect(request).toMatchObject({ prompt: 'a barn', seed: 100, batch: 3, strength: 0.3, inpaint: { mask, blur: 9 }, parentCandidateId: 'c1' });
    expect(studio.state.settings.seed).toBe(103);
    expect(studio.state.jobs).toEqual([expect.objectContaining({ jobId: 'job1', state: 'queued', purpose: 'refine' })]);
    expect(studio.state.promptHistory[0]).toBe('a barn');
  });

  it('keeps a seed typed while the generate call is in flight (the policy does not overwrite it)', async () => {
    const { studio, sent } = controller();
    studio.updateSettings({ seed: 2, seedPolicy: 'fixed' });
    const first = studio.generate({}, 'generate');
    studio.updateSettings({ seed: 3 }); // typed before the service answered the first call
    await first;
    expect(studio.state.settings.seed).toBe(3);
    await studio.generate({}, 'generate');
    expect(sent.map((c) => (c.params as { request: { seed: number } }).request.seed)).toEqual([2, 3]);
    studio.updateSettings({ seed: 10, seedPolicy: 'increment', batch: 2 });
    await studio.generate({}, 'generate');
    expect(studio.state.settings.seed).toBe(12); // untouched field: the policy still advances it
  });

  it('runs the settings as they were when the artist asked; edits made while the canvas rendered wait for the next run', async () => {
    const { studio, sent } = controller();
    studio.updateSettings({ prompt: 'a barn', seed: 20, seedPolicy: 'increment', batch: 1 });
    const asked = studio.state.settings; // generateFromCanvas takes this before rendering
    studio.updateSettings({ prompt: 'a lighthouse', seed: 55 }); // typed while the canvas rendered
    await studio.generate({}, 'generate', asked);
    expect((sent[0]!.params as { request: unknown }).request).toMatchObject({ prompt: 'a barn', seed: 20 });
    // the typed seed is kept, not advanced past the run's
    expect(studio.state.settings).toMatchObject({ prompt: 'a lighthouse', seed: 55 });
    await studio.generate({}, 'generate');
    expect((sent[1]!.params as { request: unknown }).request).toMatchObject({ prompt: 'a lighthouse', seed: 55 });
    expect(studio.state.settings.seed).toBe(56);
  });

  it('re-runs a stored request for variations with a new seed and the panel batch', async () => {
    const { studio, sent } = controller();
    studio.updateSettings({ seed: 7, seedPolicy: 'fixed', batch: 2, prompt: 'the panel prompt' });
    await studio.rerun({ model: 'starter', prompt: 'the stored prompt', seed: 1, batch: 1, steps: 9 });
    expect((sent[0]!.params as { request: unknown }).request).toEqual({ model: 'starter', prompt: 'the stored prompt', seed: 7, batch: 2, steps: 9 });
    expect(studio.state.jobs[0]).toMatchObject({ purpose: 'variations' });
  });

  it('varies a candidate: its stored images and seed kept, noise blended toward a new variation seed, linked as parent', async () => {
    const { studio, sent } = controller();
    studio.updateSettings({ seed: 40, seedPolicy: 'increment', batch: 3 });
    const stored = {
      model: 'starter',
      prompt: 'a house',
      seed: 5,
      batch: 4,
      init: { sha256: 'b'.repeat(64) },
      inpaint: { mask: { sha256: 'c'.repeat(64) } },
      controls: [{ type: 'scribble' as const, model: 'cn', image: { sha256: 'd'.repeat(64) } }],
      variation: { seed: 1, strength: 0.9 },
    };
    await studio.vary(stored, { id: 'c_parent', seed: 6 }, 0.3);
    const request = (sent[0]!.params as { request: Record<string, unknown> }).request;
    expect(request).toEqual({ ...stored, seed: 6, batch: 3, parentCandidateId: 'c_parent', variation: { seed: 40, strength: 0.3 } });
    // The policy moves past the variation seeds the batch used.
    expect(studio.state.settings.seed).toBe(43);
    // Strength 1: wholly new seeds, no variation.
    await studio.vary(stored, { id: 'c_parent', seed: 6 }, 1);
    const plain = (sent[1]!.params as { request: Record<string, unknown> }).request;
    expect(plain).toMatchObject({ seed: 43, parentCandidateId: 'c_parent', controls: stored.controls });
    expect(plain.variation).toBeUndefined();
  });

  it('refuses without a model, and files finished candidates through the reducer', async () => {
    const { studio, sent, emit } = controller();
    studio.updateSettings({ model: '' });
    expect(await studio.generate()).toBeUndefined();
    expect(sent).toHaveLength(0);
    expect(studio.state.toasts.map((t) => t.message)).toEqual(['Choose a model first']);
    const done: string[] = [];
    studio.onGenerationCompleted((generationId) => done.push(generationId));
    emit({ type: 'job.completed', jobId: 'elsewhere', generationId: 'g9', candidates: [] });
    expect(done).toEqual(['g9']);
  });
});
