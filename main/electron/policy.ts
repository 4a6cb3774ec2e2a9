import { isAppFrameUrl } from './ipc-validation.js';

// Decisions for navigation, new windows, external links and permission requests: deny by
// default (Electron security checklist §5 permission requests, §13 navigation, §14 new
// windows, §15 openExternal). Pure functions; main.ts applies them to every webContents.

/** A page may only ever show our own UI; every other navigation is cancelled. */
export function mayNavigate(url: string): boolean {
  return isAppFrameUrl(url);
}

/** Links opened from the UI at most this often: a page cannot flood the browser with tabs. */
export const EXTERNAL_LINK_INTERVAL_MS = 1000;
const MAX_EXTERNAL_URL_LENGTH = 2048;

export interface WindowOpenRequest {
  url: string;
  /** Electron's HandlerDetails.disposition: how the page asked (link click, window.open, …). */
  disposition: 'default' | 'foreground-tab' | 'background-tab' | 'new-window' | 'other';
}

/**
 * New windows are always denied. A link the user clicked (target=_blank → a tab
 * disposition) to an http(s) address goes to the system browser instead; nothing else
 * reaches shell.openExternal — no file:, no custom schemes, no credentials in the URL.
 */
export function externalLinkToOpen(request: WindowOpenRequest, nowMs: number, lastOpenedMs: number | undefined): string | undefined {
  if (request.disposition !== 'foreground-tab' && request.disposition !== 'background-tab') return undefined;
  if (request.url.length > MAX_EXTERNAL_URL_LENGTH) return undefined;
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username || url.password) return undefined;
  if (lastOpenedMs !== undefined && nowMs - lastOpenedMs < EXTERNAL_LINK_INTERVAL_MS) return undefined;
  return url.href;
}

/**
 * Permissions the UI may have: writing an image or text to the clipboard ("copy image"),
 * from our own UI only. Camera, microphone, notifications, geolocation, HID, serial,
 * USB, MIDI, display capture, pointer lock, … are all refused.
 */
const GRANTED_PERMISSIONS: ReadonlySet<string> = new Set(['clipboard-sanitized-write']);

export function mayGrantPermission(permission: string, requestingUrl: string | undefined): boolean {
  return GRANTED_PERMISSIONS.has(permission) && isAppFrameUrl(requestingUrl);
}
