import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MethodName, Params, StudioApi } from '../../app/contract/index.js';
import { addStroke, pngToDataUrl, renameProject } from '../../app/projects/document/index.js';
import { DocumentSession } from '../../renderer/src/state/document.js';
import { DocumentSync } from '../../renderer/src/state/document-sync.js';
import { defaultSettings } from '../../renderer/src/state/settings.js';
import { createStore } from '../../renderer/src/state/store.js';
import { stubPng } from '../fixtures/projects/sample-document.js';

// The document sync: an object with a lifetime that hands the service the open project a
// moment after each edit, with only the parts the service has not seen.

interface Call {
  method: MethodName;
  params: Record<string, unknown>;
}

/** A StudioApi that records calls and answers them when the test says so. */
function fakeApi() {
  const calls: Call[] = [];
  const pending: Array<{ resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];
  const api: StudioApi = {
    call: <M extends MethodName>(method: M, params: Params<M>) => {
      calls.push({ method, params: params as Record<string, unknown> });
      return new Promise((resolve, reject) => pending.push({ resolve: resolve as (v: unknown) => void, reject }));
    },
    subscribe: () => () => undefined,
  };
  return {
    api,
    calls,
    /** Answers the oldest unanswered call. */
    answer: async (value: unknown = { dirty: true }) => {
      pending.shift()!.resolve(value);
      await vi.advanceTimersByTimeAsync(0);
    },
    fail: async (error: Error) => {
      pending.shift()!.reject(error);
      await vi.advanceTimersByTimeAsync(0);
    },
  };
}

function setup() {
  const fake = fakeApi();
  const session = new DocumentSession();
  session.load(session.doc, {}, null, 'session-1');
  const ui = createStore({ settings: defaultSettings });
  const errors: unknown[] = [];
  const sync = new DocumentSync({ api: fake.api, session, ui, delayMs: 1000, onError: (e) => errors.push(e), now: () => 'T' }).start();
  const sketchId = session.doc.layers.find((l) => l.kind === 'sketch')!.id;
  const draw = (id: string) => session.history.change((d) => addStroke(d, sketchId, { id, tool: 'pen', colour: '#000000', width: 2, points: [1, 1, 0.5] }));
  return { ...fake, session, ui, sync, errors, draw };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('DocumentSync', () => {
  it('pushes once, a moment after the last of several edits, with the panel settings in the document', async () => {
    const t = setup();
    t.draw('s1');
    await vi.advanceTimersByTimeAsync(600);
    t.draw('s2');
    t.ui.set({ settings: { ...defaultSettings, prompt: 'a lake' } });
    await vi.advanceTimersByTimeAsync(999);
    expect(t.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.calls.map((c) => c.method)).toEqual(['projects.update']);
    const document = t.calls[0]!.params.document as typeof t.session.doc;
    expect(document.settings.prompt).toBe('a lake');
    expect(document.layers).toEqual(t.session.doc.layers);
    await t.answer();
    expect(t.session.session.get().pushedAt).toBe('T');
  });

  it('sends a part once; after a failed push it sends it again, and reports the failure', async () => {
    const t = setup();
    const ref = t.session.addAsset(pngToDataUrl(stubPng('paint', 1, 1)));
    t.session.history.change((d) => ({ ...d, layers: [...d.layers, { kind: 'paint', id: 'p', name: 'P', visible: true, locked: false, opacity: 1, image: ref, x: 0, y: 0, width: 1, height: 1 }] }));
    await vi.advanceTimersByTimeAsync(1000);
    expect(Object.keys(t.calls[0]!.params.assets as object)).toEqual([ref.part]);
    await t.fail(new Error('disk full'));
    expect(t.errors).toEqual([new Error('disk full')]);
    t.draw('s1');
    await vi.advanceTimersByTimeAsync(1000);
    expect(Object.keys(t.calls[1]!.params.assets as object)).toEqual([ref.part]);
    await t.answer();
    t.draw('s2');
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.calls[2]!.params.assets).toEqual({});
  });

  it('never sends library images: a candidate by reference travels as its hash', async () => {
    const t = setup();
    const sha256 = 'ab'.repeat(32);
    t.session.history.applyRemote((d) => ({
      ...d,
      generations: [{ id: 'g', createdAt: 'now', mode: 'txt2img', request: {}, parentCandidateId: null, maskLayerId: null, maskSnapshot: null, candidates: [{ id: 'c', index: 0, seed: 1, sha256, width: 8, height: 8, image: { sha256 }, favourite: false }] }],
    }));
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.calls[0]!.params.assets).toEqual({});
    expect(JSON.stringify(t.calls[0]!.params.document)).toContain(`"image":{"sha256":"${sha256}"}`);
  });

  it('keeps pushes and saves in the order they were asked for', async () => {
    const t = setup();
    t.draw('s1');
    const first = t.sync.push();
    const save = t.sync.withUnsentAssets((assets) => t.api.call('projects.save', { sessionId: 'session-1', document: t.sync.document(), assets }));
    await vi.advanceTimersByTimeAsync(0);
    // The save waits for the push in flight, which may carry the parts the save's document refers to.
    expect(t.calls.map((c) => c.method)).toEqual(['projects.update']);
    await t.answer();
    expect(t.calls.map((c) => c.method)).toEqual(['projects.update', 'projects.save']);
    await t.answer({ path: '/x.atelier', savedAt: 'now' });
    await expect(first).resolves.toBeUndefined();
    await expect(save).resolves.toEqual({ path: '/x.atelier', savedAt: 'now' });
  });

  it('does nothing before the service session exists, and nothing after dispose', async () => {
    const t = setup();
    t.session.session.set({ sessionId: null });
    t.draw('s1');
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.calls).toHaveLength(0);
    t.session.session.set({ sessionId: 'session-1' });
    t.draw('s2');
    t.sync.dispose();
    t.draw('s3');
    t.ui.set({ settings: { ...defaultSettings, prompt: 'later' } });
    await vi.advanceTimersByTimeAsync(5000);
    expect(t.calls).toHaveLength(0);
    expect(() => t.sync.start()).toThrow(/disposed/);
  });

  it('ignores store changes that leave the settings alone; a loaded document is pushed', async () => {
    const t = setup();
    const ui = t.ui as unknown as ReturnType<typeof createStore<{ settings: typeof defaultSettings; other: number }>>;
    ui.set({ other: 1 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.calls).toHaveLength(0);
    t.session.history.load(renameProject(t.session.doc, 'opened'));
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.calls).toHaveLength(1);
    expect((t.calls[0]!.params.document as { name: string }).name).toBe('opened');
  });
});
