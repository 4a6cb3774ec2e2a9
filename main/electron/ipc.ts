import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import type { ApiResponse, StudioEvent } from '../../app/contract/index.js';
import { CALL_CHANNEL, EVENT_CHANNEL } from './channels.js';
import { type SenderFrameInfo, validateIpcCall } from './ipc-validation.js';

// The StudioApi over Electron IPC: one invoke channel answered by service.handle after the
// sender and payload checks, one event channel pushed to our own windows. Electron objects
// come in as parameters, so tests drive this with fakes.

export interface StudioDoor {
  handle(raw: unknown): Promise<ApiResponse>;
  subscribe(listener: (event: StudioEvent) => void): () => void;
}

/** The windows that may talk to the studio: those main created, and nothing else. */
export interface TrustedWindows {
  ids(): ReadonlySet<number>;
  contents(): Iterable<Pick<WebContents, 'send' | 'isDestroyed'>>;
}

export function senderFrameInfo(event: Pick<IpcMainInvokeEvent, 'sender' | 'senderFrame'>): SenderFrameInfo {
  const frame = event.senderFrame;
  return {
    webContentsId: event.sender.id,
    frameUrl: frame?.url,
    // A frame whose parent is null is the top frame of its page.
    isMainFrame: frame !== null && frame !== undefined && frame.parent === null && event.sender.mainFrame === frame,
  };
}

export function registerStudioIpc(ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>, studio: StudioDoor, windows: TrustedWindows): () => void {
  ipcMain.handle(CALL_CHANNEL, async (event, payload: unknown) => {
    const verdict = validateIpcCall(CALL_CHANNEL, senderFrameInfo(event), payload, windows.ids());
    if (!verdict.ok) return verdict.response;
    return studio.handle(verdict.request);
  });
  const unsubscribe = studio.subscribe((studioEvent) => {
    for (const contents of windows.contents()) {
      if (!contents.isDestroyed()) contents.send(EVENT_CHANNEL, studioEvent);
    }
  });
  return () => {
    unsubscribe();
    ipcMain.removeHandler(CALL_CHANNEL);
  };
}
