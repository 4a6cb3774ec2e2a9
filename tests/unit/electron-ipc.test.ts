import { afterAll, describe, expect, it } from 'vitest';
import { API_VERSION, ApiResponse, type StudioEvent } from '../../app/contract/index.js';
import { StudioService } from '../../app/service/index.js';
import { APP_ENTRY_URL, CALL_CHANNEL, EVENT_CHANNEL, IPC_API_VERSION } from '../../main/electron/channels.js';
import { type StudioDoor, registerStudioIpc, senderFrameInfo } from '../../main/electron/ipc.js';
import { MAX_IPC_PAYLOAD_BYTES, type SenderFrameInfo, isAppFrameUrl, validateIpcCall } from '../../main/electron/ipc-validation.js';
import { tempHome } from '../helpers/home.js';

const OUR_WINDOW = 7;
const trusted = new Set([OUR_WINDOW]);
const ourFrame: SenderFrameInfo = { webContentsId: OUR_WINDOW, frameUrl: APP_ENTRY_URL, isMainFrame: true };
const statusCall = { v: API_VERSION, method: 'status', params: {} };

function refusal(verdict: ReturnType<typeof validateIpcCall>): { code: string; message: string } {
  if (verdict.ok) throw new Error('expected a refusal');
  const response = ApiResponse.parse(verdict.response);
  if (response.ok) throw new Error('a refusal must be a failure response');
  return response.error;
}

describe('IPC validation', () => {
  it('passes a well-formed call from our window’s main frame', () => {
    const verdict = validateIpcCall(CALL_CHANNEL, ourFrame, statusCall, trusted);
    expect(verdict).toEqual({ ok: true, request: statusCall });
  });

  it('keeps the preload’s API version equal to the contract’s', () => {
    expect(IPC_API_VERSION).toBe(API_VERSION);
  });

  it.each(['atelier:eval', 'atelier:call ', 'ATELIER:CALL', '', 'atelier:event'])('refuses the unknown channel %j', (channel) => {
    expect(refusal(validateIpcCall(channel, ourFrame, statusCall, trusted)).code).toBe('bad_request');
  });

  it.each<[string, SenderFrameInfo]>([
    ['another window', { ...ourFrame, webContentsId: 99 }],
    ['a subframe of our window', { ...ourFrame, isMainFrame: false }],
    ['a frame that navigated away', { ...ourFrame, frameUrl: 'https://evil.example/' }],
    ['a destroyed frame', { ...ourFrame, frameUrl: undefined }],
    ['a file: page', { ...ourFrame, frameUrl: 'file:///tmp/index.html' }],
    ['a look-alike host', { ...ourFrame, frameUrl: 'atelier://app.evil/index.html' }],
    ['the library host', { ...ourFrame, frameUrl: 'atelier://library/x.png' }],
    ['credentials in the URL', { ...ourFrame, frameUrl: 'atelier://user@app/index.html' }],
  ])('refuses a call from %s', (_name, sender) => {
    expect(refusal(validateIpcCall(CALL_CHANNEL, sender, statusCall, trusted)).code).toBe('unauthorized');
  });

  it.each<[string, unknown]>([
    ['nothing', undefined],
    ['a string', 'status'],
    ['no version', { method: 'status' }],
    ['another version', { v: API_VERSION + 1, method: 'status' }],
    ['an empty method', { v: API_VERSION, method: '' }],
    ['a method that is not a string', { v: API_VERSION, method: ['status'] }],
    ['a BigInt', { v: API_VERSION, method: 'status', params: { n: 1n } }],
  ])('refuses a bad payload: %s', (_name, payload) => {
    expect(refusal(validateIpcCall(CALL_CHANNEL, ourFrame, payload, trusted)).code).toBe('bad_request');
  });

  it('refuses a payload larger than the limit', () => {
    const payload = { v: API_VERSION, method: 'status', params: { blob: 'x'.repeat(MAX_IPC_PAYLOAD_BYTES) } };
    expect(refusal(validateIpcCall(CALL_CHANNEL, ourFrame, payload, trusted)).message).toMatch(/larger than/);
  });

  it('recognises only the exact app origin', () => {
    expect(isAppFrameUrl('atelier://app/index.html')).toBe(true);
    expect(isAppFrameUrl('atelier://app/')).toBe(true);
    expect(isAppFrameUrl('atelier://app:8080/')).toBe(false);
    expect(isAppFrameUrl('http://app/')).toBe(false);
    expect(isAppFrameUrl('not a url')).toBe(false);
  });
});

/** A fake ipcMain that records handlers and lets a test invoke them like Electron would. */
function fakeIpcMain() {
  const handlers = new Map<string, (event: unknown, ...args: unknown[]) => unknown>();
  return {
    handlers,
    handle: (channel: string, listener: (event: never, ...args: unknown[]) => unknown) => {
      handlers.set(channel, listener as (event: unknown, ...args: unknown[]) => unknown);
    },
    removeHandler: (channel: string) => {
      handlers.delete(channel);
    },
  };
}

/** An IpcMainInvokeEvent's sender and senderFrame, as main.ts reads them. */
function invokeEvent(webContentsId: number, url: string, subframe = false) {
  const mainFrame = { url, parent: null };
  const frame = subframe ? { url, parent: mainFrame } : mainFrame;
  return { sender: { id: webContentsId, mainFrame }, senderFrame: frame };
}

describe('StudioApi over IPC (fake Electron)', () => {
  const { home, cleanup } = tempHome();
  const service = new StudioService({ transport: 'electron', home });
  afterAll(async () => {
    await service.close();
    cleanup();
  });

  it('answers our window with the service’s response and refuses a foreign one before the service runs', async () => {
    const ipc = fakeIpcMain();
    let handled = 0;
    const door: StudioDoor = {
      handle: async (raw) => {
        handled++;
        return service.handle(raw);
      },
      subscribe: (listener) => service.subscribe(listener),
    };
    const dispose = registerStudioIpc(ipc as never, door, { ids: () => trusted, contents: () => [] });
    const handler = ipc.handlers.get(CALL_CHANNEL)!;
    expect([...ipc.handlers.keys()]).toEqual([CALL_CHANNEL]);

    const ok = ApiResponse.parse(await handler(invokeEvent(OUR_WINDOW, APP_ENTRY_URL), statusCall));
    expect(ok.ok && (ok.result as { transport: string }).transport).toBe('electron');
    expect(handled).toBe(1);

    const foreign = ApiResponse.parse(await handler(invokeEvent(42, APP_ENTRY_URL), statusCall));
    const iframe = ApiResponse.parse(await handler(invokeEvent(OUR_WINDOW, APP_ENTRY_URL, true), statusCall));
    const unknown = ApiResponse.parse(await handler(invokeEvent(OUR_WINDOW, APP_ENTRY_URL), { v: API_VERSION, method: 'shell.exec' }));
    expect(foreign.ok || foreign.error.code).toBe('unauthorized');
    expect(iframe.ok || iframe.error.code).toBe('unauthorized');
    expect(unknown.ok || unknown.error.code).toBe('unknown_method');
    expect(handled).toBe(2); // the unknown method reached the service; the foreign senders did not

    dispose();
    expect(ipc.handlers.size).toBe(0);
  });

  it('pushes studio events to our live windows only, and stops after dispose', () => {
    const ipc = fakeIpcMain();
    const sent: Array<[string, string, unknown]> = [];
    const window = (name: string, destroyed = false) => ({
      send: (channel: string, payload: unknown) => sent.push([name, channel, payload]),
      isDestroyed: () => destroyed,
    });
    const dispose = registerStudioIpc(ipc as never, service, { ids: () => trusted, contents: () => [window('ours'), window('closed', true)] });
    const event: StudioEvent = { type: 'job.queued', jobId: 'j1', position: 0 };
    service.emit(event);
    expect(sent).toEqual([['ours', EVENT_CHANNEL, event]]);
    dispose();
    service.emit(event);
    expect(sent).toHaveLength(1);
  });

  it('reads the sender frame as main.ts does', () => {
    expect(senderFrameInfo(invokeEvent(3, APP_ENTRY_URL) as never)).toEqual({ webContentsId: 3, frameUrl: APP_ENTRY_URL, isMainFrame: true });
    expect(senderFrameInfo(invokeEvent(3, APP_ENTRY_URL, true) as never).isMainFrame).toBe(false);
    expect(senderFrameInfo({ sender: { id: 3, mainFrame: null }, senderFrame: null } as never)).toEqual({ webContentsId: 3, frameUrl: undefined, isMainFrame: false });
  });
});
