import type { IpcRenderer, IpcRendererEvent } from 'electron';
import { CALL_CHANNEL, EVENT_CHANNEL, IPC_API_VERSION } from './channels.js';

// What the preload puts on window.atelier: exactly the two functions the renderer's client
// (renderer/src/api/client.ts, AtelierBridge) expects, each bound to one fixed channel.
// Runs in the sandboxed preload: no Node, no schema library; main validates everything.
// The IpcRendererEvent never reaches the page (it carries `sender`, an ipcRenderer handle:
// Electron security checklist §20 "Do not expose Electron APIs to untrusted web content").

export interface AtelierBridge {
  invoke(request: unknown): Promise<unknown>;
  subscribe(listener: (event: unknown) => void): () => void;
}

export function createAtelierBridge(ipc: Pick<IpcRenderer, 'invoke' | 'on' | 'removeListener'>): AtelierBridge {
  return Object.freeze({
    invoke: (request: unknown) => ipc.invoke(CALL_CHANNEL, request),
    subscribe: (listener: (event: unknown) => void) => {
      if (typeof listener !== 'function') throw new TypeError('subscribe needs a listener function');
      let active = true;
      const forward = (_event: IpcRendererEvent, payload: unknown) => listener(payload);
      ipc.on(EVENT_CHANNEL, forward);
      // Over IPC the stream is live as soon as the listener is on, so say so at once, as
      // web mode's WebSocket does when it opens (the UI waits for 'hello' to show "live").
      queueMicrotask(() => {
        if (active) listener({ type: 'hello', apiVersion: IPC_API_VERSION });
      });
      return () => {
        active = false;
        ipc.removeListener(EVENT_CHANNEL, forward);
      };
    },
  });
}
