import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempHome } from '../helpers/home.js';
import { API_VERSION, StudioEvent } from '../../app/contract/index.js';
import { CALL_CHANNEL, EVENT_CHANNEL } from '../../main/electron/channels.js';
import { createAtelierBridge } from '../../main/electron/preload-bridge.js';

/** A fake ipcRenderer: records invokes and lets the test push events on a channel. */
function fakeIpcRenderer() {
  const listeners = new Map<string, Set<(event: unknown, payload: unknown) => void>>();
  const invoked: Array<[string, unknown[]]> = [];
  return {
    invoked,
    listeners,
    invoke: async (channel: string, ...args: unknown[]) => {
      invoked.push([channel, args]);
      return { ok: true, result: 'answer' };
    },
    on(channel: string, listener: (event: unknown, payload: unknown) => void) {
      if (!listeners.has(channel)) listeners.set(channel, new Set());
      listeners.get(channel)!.add(listener);
      return this;
    },
    removeListener(channel: string, listener: (event: unknown, payload: unknown) => void) {
      listeners.get(channel)?.delete(listener);
      return this;
    },
    push(channel: string, payload: unknown) {
      for (const listener of listeners.get(channel) ?? []) listener({ sender: 'the ipcRenderer itself', senderId: 0 }, payload);
    },
  };
}

describe('window.atelier (the preload bridge)', () => {
  it('exposes exactly invoke and subscribe, frozen', () => {
    const bridge = createAtelierBridge(fakeIpcRenderer() as never);
    expect(Object.keys(bridge).sort()).toEqual(['invoke', 'subscribe']);
    expect(Object.isFrozen(bridge)).toBe(true);
    expect(() => Object.assign(bridge, { send: () => undefined })).toThrow();
  });

  it('invokes only the call channel, with the request as its one argument', async () => {
    const ipc = fakeIpcRenderer();
    const bridge = createAtelierBridge(ipc as never);
    const request = { v: API_VERSION, method: 'status', params: {} };
    await expect(bridge.invoke(request)).resolves.toEqual({ ok: true, result: 'answer' });
    expect(ipc.invoked).toEqual([[CALL_CHANNEL, [request]]]);
  });

  it('delivers events without the IpcRendererEvent, starts with hello, and unsubscribes', async () => {
    const ipc = fakeIpcRenderer();
    const bridge = createAtelierBridge(ipc as never);
    const received: unknown[][] = [];
    const unsubscribe = bridge.subscribe((...args: unknown[]) => received.push(args));
    await Promise.resolve();
    expect(received).toEqual([[{ type: 'hello', apiVersion: API_VERSION }]]);
    expect(StudioEvent.safeParse(received[0]![0]).success).toBe(true);

    ipc.push(EVENT_CHANNEL, { type: 'job.queued', jobId: 'j', position: 0 });
    ipc.push('atelier:other', { type: 'job.queued', jobId: 'x', position: 0 });
    expect(received.at(-1)).toEqual([{ type: 'job.queued', jobId: 'j', position: 0 }]);
    expect(received).toHaveLength(2);

    unsubscribe();
    ipc.push(EVENT_CHANNEL, { type: 'job.queued', jobId: 'k', position: 0 });
    expect(received).toHaveLength(2);
    expect(ipc.listeners.get(EVENT_CHANNEL)?.size).toBe(0);
  });

  it('sends no hello to a listener that unsubscribed at once', async () => {
    const received: unknown[] = [];
    createAtelierBridge(fakeIpcRenderer() as never).subscribe((e) => received.push(e))();
    await Promise.resolve();
    expect(received).toEqual([]);
  });

  it('refuses a listener that is not a function', () => {
    expect(() => createAtelierBridge(fakeIpcRenderer() as never).subscribe('x' as never)).toThrow(TypeError);
  });

  it('bundles into a preload that requires nothing but electron and exposes only window.atelier', () => {
    const { home: outdir, cleanup } = tempHome('atelier-electron-build-');
    let bundle: string;
    try {
      execFileSync(process.execPath, ['scripts/build-electron.mjs', '--outdir', outdir], { stdio: 'pipe' });
      bundle = fs.readFileSync(path.join(outdir, 'preload.cjs'), 'utf8');
    } finally {
      cleanup();
    }
    const required = [...bundle.matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1]);
    expect(new Set(required)).toEqual(new Set(['electron']));
    const exposed = [...bundle.matchAll(/exposeInMainWorld\(\s*["']([^"']+)["']/g)].map((m) => m[1]);
    expect(exposed).toEqual(['atelier']);
    expect(bundle).not.toMatch(/exposeInIsolatedWorld|webFrame|ipcRenderer\.send(Sync)?\(/);
  });
});
