import { z } from 'zod';
import { ApiError, ApiRequest, type ApiResponse } from '../../app/contract/index.js';
import { APP_ORIGIN, CALL_CHANNEL } from './channels.js';

// Every IPC message is checked here before the StudioService sees it: the channel, the frame
// that sent it, and the payload's shape. Pure (no electron import), so it is unit-tested
// without the binary; main.ts extracts a SenderFrameInfo from IpcMainInvokeEvent.

/** What main knows about the frame that sent a message (from event.senderFrame). */
export interface SenderFrameInfo {
  /** webContents id of the sender; must be one of our windows. */
  webContentsId: number;
  /** senderFrame.url; undefined when the frame is gone (navigated away, destroyed). */
  frameUrl: string | undefined;
  /** senderFrame === webContents.mainFrame: subframes (iframes) never call the API. */
  isMainFrame: boolean;
}

/** The largest call accepted over IPC, as in web mode (a base64 init image fits easily). */
export const MAX_IPC_PAYLOAD_BYTES = 64 * 1024 * 1024;

export type IpcVerdict = { ok: true; request: ApiRequest } | { ok: false; response: ApiResponse };

/** Whether a frame URL is our UI: the exact origin atelier://app, nothing that merely starts with it. */
export function isAppFrameUrl(frameUrl: string | undefined): boolean {
  if (!frameUrl) return false;
  let url: URL;
  try {
    url = new URL(frameUrl);
  } catch {
    return false;
  }
  // URL.origin is "null" for non-special schemes in Node, so compare the parts.
  return `${url.protocol}//${url.host}` === APP_ORIGIN && url.username === '' && url.password === '';
}

/**
 * Checks one message on `channel` from `sender`, given the ids of our own windows.
 * Refusals come back as ApiResponse failures (never thrown), so the caller can answer the
 * invoke and the renderer's client turns them into a typed ApiError.
 */
export function validateIpcCall(channel: string, sender: SenderFrameInfo, payload: unknown, trustedWebContentsIds: ReadonlySet<number>): IpcVerdict {
  if (channel !== CALL_CHANNEL) return refuse('bad_request', `Unknown IPC channel "${channel}"`);
  if (!trustedWebContentsIds.has(sender.webContentsId)) return refuse('unauthorized', 'IPC from a window that is not Atelier\'s refused');
  if (!sender.isMainFrame) return refuse('unauthorized', 'IPC from a subframe refused');
  if (!isAppFrameUrl(sender.frameUrl)) return refuse('unauthorized', `IPC from a frame outside ${APP_ORIGIN} refused`);

  const size = approximateSize(payload);
  if (size === undefined) return refuse('bad_request', 'IPC payload is not plain data');
  if (size > MAX_IPC_PAYLOAD_BYTES) return refuse('bad_request', `IPC payload larger than ${MAX_IPC_PAYLOAD_BYTES} bytes`);

  const envelope = ApiRequest.safeParse(payload);
  if (!envelope.success) return refuse('bad_request', 'Malformed StudioApi request', z.treeifyError(envelope.error));
  return { ok: true, request: envelope.data };
}

function refuse(code: ApiError['code'], message: string, details?: unknown): IpcVerdict {
  return { ok: false, response: { ok: false, error: new ApiError(code, message, details).toJSON() } };
}

/** JSON length as a size bound; undefined for cycles or values JSON cannot carry (BigInt). */
function approximateSize(payload: unknown): number | undefined {
  try {
    return JSON.stringify(payload ?? null).length;
  } catch {
    return undefined;
  }
}
