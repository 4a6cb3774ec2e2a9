import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { API_VERSION } from '../../app/contract/index.js';
import { StudioService } from '../../app/service/index.js';
import { type WebServer, startWebServer } from '../../main/web/server.js';
import { tempHome } from '../helpers/home.js';

const { home, cleanup } = tempHome();
let service: StudioService;
let server: WebServer;
const MAX_BODY = 64 * 1024;

beforeAll(async () => {
  service = new StudioService({ transport: 'web', home });
  server = await startWebServer({ service, uiDir: 'dist/renderer', maxBodyBytes: MAX_BODY });
});
afterAll(async () => {
  await server.close();
  await service.close();
  cleanup();
});

/** Raw HTTP so that Host and Origin can be forged the way a rebinding page would. */
function request(opts: { path: string; method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, path: opts.path, method: opts.method ?? 'GET', headers: { host: `127.0.0.1:${server.port}`, ...opts.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

const call = (body: unknown, headers: Record<string, string> = {}) =>
  request({ path: '/api/call', method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${server.token}`, ...headers }, body: JSON.stringify(body) });

describe('web server', () => {
  it('binds loopback only', () => {
    expect(server.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('answers status with the token', async () => {
    const res = await call({ v: API_VERSION, method: 'status', params: {} });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ ok: true, result: { app: 'atelier', transport: 'web' } });
  });

  it('refuses a call without the token', async () => {
    const res = await request({ path: '/api/call', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ v: API_VERSION, method: 'status' }) });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
  });

  it('refuses a wrong token', async () => {
    const res = await call({ v: API_VERSION, method: 'status' }, { authorization: 'Bearer nope' });
    expect(res.status).toBe(401);
  });

  it('refuses the page itself without the token', async () => {
    expect((await request({ path: '/' })).status).toBe(401);
  });

  it('refuses a foreign Origin even with the token', async () => {
    const res = await call({ v: API_VERSION, method: 'status' }, { origin: 'http://evil.example' });
    expect(res.status).toBe(403);
  });

  it('refuses a foreign Host (DNS rebinding) even with the token', async () => {
    const res = await call({ v: API_VERSION, method: 'status' }, { host: `evil.example:${server.port}` });
    expect(res.status).toBe(403);
  });

  it('refuses an oversized body', async () => {
    const res = await call({ v: API_VERSION, method: 'status', params: { pad: 'x'.repeat(MAX_BODY) } });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
  });

  it('answers malformed JSON and malformed requests with typed errors', async () => {
    const bad = await request({ path: '/api/call', method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${server.token}` }, body: '{"v":1,' });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).ok).toBe(false);
    const wrong = await call({ v: API_VERSION, method: 'nope' });
    expect(JSON.parse(wrong.body)).toMatchObject({ ok: false, error: { code: 'unknown_method' } });
  });

  it('refuses unknown keys in the call envelope', async () => {
    const res = await call({ v: API_VERSION, method: 'status', params: {}, debug: true });
    expect(JSON.parse(res.body)).toMatchObject({ ok: false, error: { code: 'bad_request', message: 'Malformed StudioApi request' } });
    expect(JSON.parse(res.body).error.details).toMatchObject({ errors: [expect.stringMatching(/Unrecognized key: "debug"/)] });
  });

  it('answers a path that does not percent-decode with a typed error and the security headers', async () => {
    for (const path of ['/%', '/api/%zz', '/media/images/%ff', '/a%2']) {
      const res = await request({ path, headers: { authorization: `Bearer ${server.token}` } });
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringMatching(/Malformed URL/) } });
      expect(String(res.headers['content-security-policy'])).toContain("default-src 'self'");
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    // Without the token it is refused like any other request, with the same headers.
    const anonymous = await request({ path: '/%' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['x-content-type-options']).toBe('nosniff');
  });

  it('sends no HSTS over plain http on loopback', async () => {
    const res = await call({ v: API_VERSION, method: 'status' });
    expect(res.headers['strict-transport-security']).toBeUndefined();
  });

  it('trades the query token for an HttpOnly SameSite cookie and strips it from the URL', async () => {
    const res = await request({ path: `/?token=${server.token}` });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/');
    expect(String(res.headers['set-cookie'])).toMatch(/HttpOnly; SameSite=Strict/);
  });

  it('sends a strict CSP and the usual security headers', async () => {
    const res = await call({ v: API_VERSION, method: 'status' });
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-eval');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
  });

  it('streams events over WebSocket with the token, and refuses without it', async () => {
    const events = new WebSocket(`ws://127.0.0.1:${server.port}/api/events`, { headers: { authorization: `Bearer ${server.token}` } });
    const hello = await new Promise<unknown>((resolve, reject) => {
      events.once('message', (data) => resolve(JSON.parse(String(data))));
      events.once('error', reject);
    });
    expect(hello).toEqual({ type: 'hello', apiVersion: API_VERSION });
    const next = new Promise<unknown>((resolve) => events.once('message', (data) => resolve(JSON.parse(String(data)))));
    service.emit({ type: 'hello', apiVersion: API_VERSION });
    expect(await next).toEqual({ type: 'hello', apiVersion: API_VERSION });
    events.close();

    const refused = new WebSocket(`ws://127.0.0.1:${server.port}/api/events`);
    const status = await new Promise<number>((resolve) => refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(401);

    const foreign = new WebSocket(`ws://127.0.0.1:${server.port}/api/events`, { headers: { authorization: `Bearer ${server.token}`, origin: 'http://evil.example' } });
    const foreignStatus = await new Promise<number>((resolve) => foreign.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(foreignStatus).toBe(403);
  });
});
