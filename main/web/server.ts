import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { ApiError, type ApiResponse } from '../../app/contract/index.js';
import type { StudioService } from '../../app/service/index.js';
import { registerFileRoutes } from './files.js';
import { registerModelUpload } from './model-upload.js';

export interface WebServerOptions {
  service: StudioService;
  /** The built renderer (vite build output). */
  uiDir: string;
  /** 0 picks a free port. */
  port?: number;
  /** Per-run secret; generated when omitted. */
  token?: string;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
  /** Largest project file the browser may upload (Open from this computer), in bytes. */
  maxUploadBytes?: number;
  /** Most upload bytes all requests in flight may hold together. */
  maxConcurrentUploadBytes?: number;
  /** Largest checkpoint the model manager may upload (streamed to disk), in bytes. */
  maxCheckpointBytes?: number;
}

export interface WebServer {
  /** The URL to open: carries the token once; the page then lives on a cookie. */
  url: string;
  origin: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

const HOST = '127.0.0.1';
/** Where requests whose path does not percent-decode are routed (see rewriteUrl). */
const BAD_URL_ROUTE = '/api/malformed-url';
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * Web mode: the StudioApi over HTTP (POST /api/call) and WebSocket (/api/events) on
 * loopback. Every request must carry the per-run token (query once, then an HttpOnly
 * SameSite=Strict cookie, or an Authorization header); a Host or Origin other than our own
 * loopback address is refused, which closes the DNS-rebinding door.
 */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const token = options.token ?? crypto.randomBytes(24).toString('base64url');
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const app = Fastify({
    bodyLimit: maxBodyBytes,
    logger: false,
    trustProxy: false,
    // A path that cannot be percent-decoded would fail in the router, before any hook: no
    // security headers, no typed error (issue 17). Sent to an ordinary route instead, it passes
    // the same hooks (token, Host, Origin, helmet) and answers bad_request.
    rewriteUrl: (request) => (decodablePath(request.url ?? '/') ? (request.url ?? '/') : BAD_URL_ROUTE),
  });
  let port = 0;
  const cookieName = () => `atelier_token_${port}`;

  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        workerSrc: ["'self'", 'blob:'],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'none'"],
        frameAncestors: ["'none'"],
      },
    },
    crossOriginEmbedderPolicy: false,
    referrerPolicy: { policy: 'no-referrer' },
    // Plain http on loopback: HSTS there means nothing, and would pin https on 127.0.0.1 for
    // every other local server the browser visits (RFC 6797 §8.1 ignores it over http anyway).
    strictTransportSecurity: false,
  });
  await app.register(websocket, { options: { maxPayload: 1024 * 1024 } });

  const allowedHosts = () => new Set([`${HOST}:${port}`, `localhost:${port}`]);
  const allowedOrigins = () => new Set([`http://${HOST}:${port}`, `http://localhost:${port}`]);

  const refuse = (reply: FastifyReply, status: number, message: string) =>
    reply.code(status).type('application/json').send({ ok: false, error: new ApiError('unauthorized', message).toJSON() } satisfies ApiResponse);

  app.addHook('onRequest', async (request, reply) => {
    const host = request.headers.host ?? '';
    if (!allowedHosts().has(host)) return refuse(reply, 403, 'Foreign Host header refused');
    const origin = request.headers.origin;
    if (origin !== undefined && !allowedOrigins().has(origin)) return refuse(reply, 403, 'Foreign Origin refused');
    const fetchSite = request.headers['sec-fetch-site'];
    if (fetchSite === 'cross-site') return refuse(reply, 403, 'Cross-site request refused');

    const presented = presentedToken(request, cookieName());
    if (presented.fromQuery && safeEqual(presented.value, token) && request.method === 'GET' && !isApi(request.url)) {
      // Trade the one-time query token for a cookie and drop it from the address bar.
      reply.header('set-cookie', `${cookieName()}=${token}; HttpOnly; SameSite=Strict; Path=/`);
      return reply.redirect(stripToken(request.url), 303);
    }
    if (!safeEqual(presented.value, token)) return refuse(reply, 401, 'Missing or wrong token: open the URL that `npm run web` printed');
    return undefined;
  });

  app.post('/api/call', async (request, reply) => {
    if (!String(request.headers['content-type'] ?? '').startsWith('application/json')) {
      return reply.code(415).send({ ok: false, error: new ApiError('bad_request', 'StudioApi calls are JSON').toJSON() });
    }
    const response = await options.service.handle(request.body);
    reply.header('cache-control', 'no-store');
    return response;
  });

  app.all(BAD_URL_ROUTE, async (_request, reply) =>
    reply.code(400).send({ ok: false, error: new ApiError('bad_request', 'Malformed URL: a percent-escape does not decode').toJSON() } satisfies ApiResponse),
  );

  // Library images for <img> tags: /media/images/<sha256>.png and /media/thumbs/<sha256>.webp,
  // behind the same token as everything else (the cookie travels with image requests).
  app.get<{ Params: { folder: string; file: string } }>('/media/:folder/:file', async (request, reply) => {
    const { folder, file } = request.params;
    const match = /^([0-9a-f]{64})\.(png|webp)$/.exec(file);
    const kind = folder === 'images' && match?.[2] === 'png' ? 'image' : folder === 'thumbs' && match?.[2] === 'webp' ? 'thumbnail' : undefined;
    const found = kind && match ? options.service.mediaFile(kind, match[1]!) : undefined;
    if (!found || !fs.existsSync(found)) return reply.code(404).send({ ok: false, error: new ApiError('not_found', 'No such image').toJSON() } satisfies ApiResponse);
    reply.header('cache-control', 'private, max-age=31536000, immutable'); // content-addressed: a name never changes meaning
    return reply.type(kind === 'image' ? 'image/png' : 'image/webp').send(fs.createReadStream(found));
  });

  // A checkpoint from the browser's file picker, streamed to disk and imported (main/web/model-upload.ts).
  registerModelUpload(app, { service: options.service, ...(options.maxCheckpointBytes !== undefined ? { maxBytes: options.maxCheckpointBytes } : {}) });

  // The browser's own file picker and downloads (main/web/files.ts), behind the same checks.
  registerFileRoutes(app, {
    service: options.service,
    ...(options.maxUploadBytes !== undefined ? { maxUploadBytes: options.maxUploadBytes } : {}),
    ...(options.maxConcurrentUploadBytes !== undefined ? { maxConcurrentUploadBytes: options.maxConcurrentUploadBytes } : {}),
  });

  app.get('/api/events', { websocket: true }, (socket) => {
    const send = (data: unknown) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(data));
    };
    send({ type: 'hello', apiVersion: 1 });
    const unsubscribe = options.service.subscribe(send);
    socket.on('close', unsubscribe);
    socket.on('error', unsubscribe);
    // The event stream is one-way; anything a client sends is ignored.
  });

  app.setErrorHandler((error: { statusCode?: number; message: string }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    const code = status === 413 || status === 400 || status === 415 ? 'bad_request' : 'internal';
    // Uploads have their own, larger limit than StudioApi calls.
    const message = status === 413 ? `Request body larger than ${request.routeOptions.bodyLimit ?? maxBodyBytes} bytes` : error.message;
    return reply.code(status).send({ ok: false, error: new ApiError(code, message).toJSON() } satisfies ApiResponse);
  });

  if (fs.existsSync(path.join(options.uiDir, 'index.html'))) {
    await app.register(fastifyStatic, { root: path.resolve(options.uiDir), index: 'index.html', wildcard: false });
    app.setNotFoundHandler((request, reply) =>
      isApi(request.url) ? reply.code(404).send({ ok: false, error: { code: 'not_found', message: 'No such endpoint' } }) : reply.sendFile('index.html'),
    );
  } else {
    app.get('/', async (_request, reply) =>
      reply.code(503).type('text/plain').send(`The studio UI is not built (${options.uiDir} has no index.html). Run: npm run build:ui`),
    );
  }

  await app.listen({ host: HOST, port: options.port ?? 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('Web server did not bind a TCP port');
  port = address.port;
  const origin = `http://${HOST}:${port}`;
  return {
    url: `${origin}/?token=${token}`,
    origin,
    port,
    token,
    close: async () => {
      await app.close();
    },
  };
}

function decodablePath(url: string): boolean {
  const query = url.indexOf('?');
  try {
    decodeURI(query === -1 ? url : url.slice(0, query));
    return true;
  } catch {
    return false;
  }
}

function isApi(url: string): boolean {
  return url === '/api' || url.startsWith('/api/') || url.startsWith('/api?');
}

function presentedToken(request: FastifyRequest, cookie: string): { value: string | undefined; fromQuery: boolean } {
  const auth = request.headers.authorization;
  if (auth?.startsWith('Bearer ')) return { value: auth.slice(7), fromQuery: false };
  const query = new URL(request.url, 'http://x').searchParams.get('token');
  if (query) return { value: query, fromQuery: true };
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === cookie) return { value: rest.join('='), fromQuery: false };
  }
  return { value: undefined, fromQuery: false };
}

function stripToken(url: string): string {
  const u = new URL(url, 'http://x');
  u.searchParams.delete('token');
  return u.pathname + (u.search || '');
}

function safeEqual(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}
