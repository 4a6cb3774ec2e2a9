import fs from 'node:fs/promises';
import type { CustomScheme, Protocol } from 'electron';
import { APP_ORIGIN, APP_SCHEME } from './channels.js';
import { contentSecurityPolicy } from './csp.js';
import { type ProtocolRoots, resolveProtocolUrl } from './protocol-paths.js';

// The atelier:// protocol handler. It needs no electron at run time (Request and Response
// are Node's fetch classes, which Electron's protocol.handle uses too), so tests call it
// directly; main.ts registers it with protocol.handle.

/**
 * Registered before app 'ready'. `standard` gives atelier://app a real origin (relative
 * URLs, localStorage, 'self' in the CSP); `secure` makes it a secure context like https;
 * `corsEnabled` lets the UI draw library images on a canvas and read it back. Not
 * `bypassCSP`: our own CSP applies to our own scheme.
 */
export const ATELIER_SCHEME: CustomScheme = {
  scheme: APP_SCHEME,
  privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true, stream: true },
};

export interface ProtocolHandlerOptions {
  /** Looked up per request: the open project's folder changes while the app runs. */
  roots: () => ProtocolRoots;
  /** Called with each refusal, for the log. */
  onRefused?: (url: string, reason: string) => void;
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cross-origin-resource-policy': 'same-site',
  'referrer-policy': 'no-referrer',
};

export function createProtocolHandler(options: ProtocolHandlerOptions): (request: Request) => Promise<Response> {
  const csp = contentSecurityPolicy();
  return async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return new Response('Method not allowed', { status: 405, headers: { allow: 'GET, HEAD', ...SECURITY_HEADERS } });
    }
    const resolved = resolveProtocolUrl(request.url, options.roots());
    if (!resolved.ok) {
      options.onRefused?.(request.url, resolved.reason);
      // The reason goes to the log, not to the page: a probe learns nothing about the disk.
      return new Response(resolved.status === 404 ? 'Not found' : 'Refused', { status: resolved.status, headers: { 'content-type': 'text/plain', ...SECURITY_HEADERS } });
    }
    const headers: Record<string, string> = { 'content-type': resolved.mimeType, ...SECURITY_HEADERS };
    if (resolved.host === 'app') {
      headers['content-security-policy'] = csp;
    } else {
      // Library images and project parts may be drawn on the UI's canvas and read back.
      headers['access-control-allow-origin'] = APP_ORIGIN;
      headers['cache-control'] = resolved.host === 'library' ? 'private, max-age=31536000, immutable' : 'no-store';
    }
    let body: Buffer;
    try {
      body = await fs.readFile(resolved.file);
    } catch {
      return new Response('Not found', { status: 404, headers: { 'content-type': 'text/plain', ...SECURITY_HEADERS } });
    }
    return new Response(request.method === 'HEAD' ? null : new Uint8Array(body), { status: 200, headers: { ...headers, 'content-length': String(body.length) } });
  };
}

export function registerAtelierProtocol(protocol: Pick<Protocol, 'handle'>, options: ProtocolHandlerOptions): void {
  protocol.handle(APP_SCHEME, createProtocolHandler(options));
}
