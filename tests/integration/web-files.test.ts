import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readProjectFile } from '../../app/projects/atelier-file.js';
import { StudioService } from '../../app/service/index.js';
import { projectsArea } from '../../app/service/projects-handlers.js';
import { UPLOAD_LIFETIME_MS, safeFileStem } from '../../main/web/files.js';
import { type WebServer, startWebServer } from '../../main/web/server.js';
import { TINY_PNG, craftZip, hostileProjects } from '../fixtures/projects/craft.js';
import { tempHome } from '../helpers/home.js';

// Web mode's upload and download routes: the browser's file picker and downloads, behind the
// same token, Host and Origin checks as the StudioApi.

const { home, cleanup } = tempHome();
const SAMPLE = path.resolve('resources/samples/lake-house.atelier');
const MAX_UPLOAD = 4 * 1024 * 1024;
const MAX_CONCURRENT = 6 * 1024 * 1024;
let service: StudioService;
let server: WebServer;
const uploads = path.join(home, 'projects', 'uploads');

beforeAll(async () => {
  service = new StudioService({ transport: 'web', home });
  const projects = projectsArea(service.ctx, { autosaveSeconds: 0 });
  service.register(projects.handlers, projects.close);
  server = await startWebServer({ service, uiDir: 'dist/renderer', maxBodyBytes: 64 * 1024, maxUploadBytes: MAX_UPLOAD, maxConcurrentUploadBytes: MAX_CONCURRENT });
});
afterAll(async () => {
  await server.close();
  await service.close();
  cleanup();
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json: () => { ok: boolean; result?: Record<string, unknown> & { sessionId?: string }; error?: { code: string; message: string } };
}

function request(opts: { path: string; method?: string; headers?: Record<string, string>; body?: Buffer | string; token?: string | null }): Promise<Answer> {
  const auth = opts.token === null ? {} : { authorization: `Bearer ${opts.token ?? server.token}` };
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.port, path: opts.path, method: opts.method ?? 'GET', headers: { host: `127.0.0.1:${server.port}`, ...auth, ...opts.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString()) as ReturnType<Answer['json']> });
        });
      },
    );
    // The server may answer (413, 401) before reading the whole body and close the socket.
    req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' || error.code === 'ECONNRESET' ? undefined : reject(error)));
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

const upload = (name: string, bytes: Buffer, extra: { token?: string | null; headers?: Record<string, string> } = {}) =>
  request({ path: `/api/files/open?name=${encodeURIComponent(name)}`, method: 'POST', headers: { 'content-type': 'application/octet-stream', ...extra.headers }, body: bytes, token: extra.token });

const prepare = (body: Record<string, unknown>, extra: { token?: string | null; headers?: Record<string, string> } = {}) =>
  request({ path: '/api/files/export', method: 'POST', headers: { 'content-type': 'application/json', ...extra.headers }, body: JSON.stringify(body), token: extra.token });

const listUploads = () => (fs.existsSync(uploads) ? fs.readdirSync(uploads).sort() : []);

describe('web mode: open from this computer', () => {
  it('opens an uploaded .atelier through the projects code, kept under uploads/ with a sanitised unique name', async () => {
    const res = await upload('../../My Lake House!.atelier', fs.readFileSync(SAMPLE));
    expect(res.status).toBe(200);
    const { result } = res.json();
    const opened = result as unknown as { sessionId: string; path: string; snapshot: { document: { layers: unknown[] } } };
    expect(opened.snapshot.document.layers.length).toBeGreaterThan(0);
    expect(path.dirname(opened.path)).toBe(uploads);
    expect(path.basename(opened.path)).toMatch(/^My_Lake_House_-[0-9a-f]{12}\.atelier$/);
    expect(listUploads()).toEqual([path.basename(opened.path)]);
    // Same name again: a second file, not an overwrite.
    const again = await upload('../../My Lake House!.atelier', fs.readFileSync(SAMPLE));
    expect(listUploads()).toHaveLength(2);
    await service.call('projects.close', { sessionId: (again.json().result as { sessionId: string }).sessionId });
  });

  it('refuses a hostile upload with the projects area\'s clear error, removes it and opens nothing', async () => {
    const before = listUploads();
    const hostile = hostileProjects['zip-slip ../ entry']!;
    const res = await upload('evil.atelier', hostile.bytes());
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ ok: false, error: { code: 'invalid_file' } });
    expect(res.json().error?.message).toMatch(hostile.message);
    expect(listUploads()).toEqual(before);
    expect(fs.existsSync(path.join(home, '..', 'evil.txt'))).toBe(false);
    expect(fs.existsSync(path.join(home, 'projects', 'evil.txt'))).toBe(false);
  });

  it('refuses a file that is not a project, and other extensions', async () => {
    const before = listUploads();
    const garbage = await upload('scene.psd', Buffer.from('not a psd at all'));
    expect(garbage.status).toBe(400);
    expect(garbage.json().error?.code).toBe('invalid_file');
    const script = await upload('run.sh', craftZip([{ name: 'a', data: 'b' }]));
    expect(script.status).toBe(400);
    expect(script.json().error?.message).toMatch(/\.atelier, \.ora and \.psd/);
    expect(listUploads()).toEqual(before);
  });

  it('requires the token, refuses a foreign Origin and Host, and refuses an oversized upload', async () => {
    const bytes = fs.readFileSync(SAMPLE);
    const before = listUploads();
    expect((await upload('a.atelier', bytes, { token: null })).status).toBe(401);
    expect((await upload('a.atelier', bytes, { token: 'wrong' })).status).toBe(401);
    expect((await upload('a.atelier', bytes, { headers: { origin: 'http://evil.example' } })).status).toBe(403);
    expect((await upload('a.atelier', bytes, { headers: { host: 'evil.example' } })).status).toBe(403);
    const big = await upload('big.atelier', Buffer.alloc(MAX_UPLOAD + 1));
    expect(big.status).toBe(413);
    expect(big.json().error?.message).toContain(String(MAX_UPLOAD));
    expect(listUploads()).toEqual(before);
  });

  it('sanitises names: no separators, no leading dots', () => {
    expect(safeFileStem('../../etc/passwd')).toBe('passwd');
    expect(safeFileStem('..\\..\\boot.ini')).toBe('boot.ini');
    expect(safeFileStem('.hidden')).toBe('hidden');
    expect(safeFileStem('..')).toBe('project');
    expect(safeFileStem('Lake house (v2)')).toBe('Lake_house_v2_');
  });
});

describe('web mode: downloads', () => {
  let sessionId: string;
  beforeAll(async () => {
    const res = await upload('lake-house.atelier', fs.readFileSync(SAMPLE));
    sessionId = (res.json().result as { sessionId: string }).sessionId;
  });

  it('exports a PSD to <home>/exports and serves it once asked by id, as an attachment', async () => {
    const prepared = await prepare({ sessionId, format: 'psd', name: 'Lake "house"' });
    expect(prepared.status).toBe(200);
    const { id, filename, bytes } = prepared.json().result as { id: string; filename: string; bytes: number };
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(filename).toBe('Lake_house_.psd');
    expect(fs.readdirSync(path.join(home, 'exports'))).toContain(`${id}.psd`);
    const download = await request({ path: `/api/files/download/${id}` });
    expect(download.status).toBe(200);
    expect(download.headers['content-disposition']).toMatch(/^attachment; filename="[A-Za-z0-9._-]+\.psd"/);
    expect(download.body.length).toBe(bytes);
    expect(download.body.subarray(0, 4).toString('latin1')).toBe('8BPS');
    // The token guards downloads too.
    expect((await request({ path: `/api/files/download/${id}`, token: null })).status).toBe(401);
    expect((await request({ path: `/api/files/download/${id}`, headers: { origin: 'http://evil.example' } })).status).toBe(403);
  });

  it('serves ids only: paths and unknown ids are not found', async () => {
    for (const probe of ['..%2F..%2Fetc%2Fpasswd', '%2E%2E', 'lake-house.atelier', '0'.repeat(32)]) {
      const res = await request({ path: `/api/files/download/${probe}` });
      expect(res.status).toBe(404);
    }
  });

  it('"Download .atelier" saves an unsaved project into the projects folder first and downloads a copy that opens', async () => {
    const fresh = await service.call('projects.new', { width: 64, height: 48, name: 'Fresh' });
    const prepared = await prepare({ sessionId: fresh.sessionId, format: 'atelier', name: 'Fresh', firstSave: true });
    expect(prepared.status).toBe(200);
    const result = prepared.json().result as { id: string; filename: string; savedPath: string };
    expect(result.filename).toBe('Fresh.atelier');
    expect(path.dirname(result.savedPath)).toBe(path.join(home, 'projects'));
    const download = await request({ path: `/api/files/download/${result.id}` });
    const copy = path.join(home, 'copy.atelier');
    fs.writeFileSync(copy, download.body);
    expect((await readProjectFile(copy)).document.canvas).toMatchObject({ width: 64, height: 48 });
    // Later downloads save to the same file.
    const second = await prepare({ sessionId: fresh.sessionId, format: 'atelier', name: 'Fresh' });
    expect((second.json().result as { savedPath: string }).savedPath).toBe(result.savedPath);
  });

  it('refuses malformed requests, unknown sessions and foreign origins without writing', async () => {
    const exportsDir = path.join(home, 'exports');
    const before = fs.readdirSync(exportsDir).length;
    expect((await prepare({ sessionId, format: 'exe' })).status).toBe(400);
    expect((await prepare({ sessionId, format: 'png', out: '/tmp/x.png' })).status).toBe(400);
    expect((await prepare({ sessionId: 'nope', format: 'png' })).status).toBe(404);
    expect((await prepare({ sessionId, format: 'png' }, { token: null })).status).toBe(401);
    expect((await prepare({ sessionId, format: 'png' }, { headers: { origin: 'http://evil.example' } })).status).toBe(403);
    expect(fs.readdirSync(exportsDir)).toHaveLength(before);
  });
});

describe('web mode: hostile uploads and paths (issue 17)', () => {
  const stackOra = (name: string) =>
    craftZip([
      { name: 'mimetype', data: 'image/openraster', deflate: false },
      { name: 'stack.xml', data: `<image w="1" h="1"><stack><layer src="a.png" name="${name}"/></stack></image>` },
      { name: 'a.png', data: TINY_PNG, deflate: false },
    ]);

  it('answers an .ora whose layer name holds &#x110000; with 400 invalid_file, not 500 internal', async () => {
    const res = await upload('bad.ora', stackOra('x&#x110000;'));
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ ok: false, error: { code: 'invalid_file', message: expect.stringMatching(/not well-formed XML/) } });
  });

  it('sweeps uploads left untouched for a day, keeping recent ones', async () => {
    fs.mkdirSync(uploads, { recursive: true });
    const stale = path.join(uploads, 'stale-000000000000.atelier');
    const fresh = path.join(uploads, 'fresh-000000000000.atelier');
    fs.writeFileSync(stale, 'old');
    fs.writeFileSync(fresh, 'new');
    const dayAgo = new Date(Date.now() - UPLOAD_LIFETIME_MS - 60_000);
    fs.utimesSync(stale, dayAgo, dayAgo);
    const res = await upload('layers.ora', stackOra('ok'));
    expect(res.status).toBe(200);
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.existsSync(fresh)).toBe(true);
    fs.rmSync(fresh);
  });

  it('refuses an upload as busy while others hold the concurrent budget, and takes it once they are gone', async () => {
    // A first upload declares 4 MB and sends one byte: its body is still arriving.
    const held = http.request({
      host: '127.0.0.1',
      port: server.port,
      path: '/api/files/open?name=slow.atelier',
      method: 'POST',
      agent: false,
      headers: { host: `127.0.0.1:${server.port}`, authorization: `Bearer ${server.token}`, 'content-type': 'application/octet-stream', 'content-length': String(MAX_UPLOAD) },
    });
    held.on('error', () => undefined); // destroyed below on purpose
    let heldStatus = 0;
    held.on('response', (res) => (heldStatus = res.statusCode ?? 0));
    // 100-continue: the server answers "continue" once it has taken the request in, so the
    // probes below cannot arrive before it and take the budget first.
    held.setHeader('expect', '100-continue');
    await new Promise<void>((resolve) => held.once('continue', resolve).flushHeaders());
    held.write(Buffer.alloc(1));
    try {
      // 4 MB held + 3 MB more > 6 MB: refused before its body is read, once the server has seen the first.
      const second = () => upload('second.ora', Buffer.alloc(3 * 1024 * 1024), { headers: { connection: 'close' } });
      let answer = await second();
      for (let i = 0; i < 100 && answer.status !== 503; i++) answer = await second();
      expect(heldStatus).toBe(0);
      expect(answer.status).toBe(503);
      expect(answer.json()).toMatchObject({ ok: false, error: { code: 'busy', message: expect.stringMatching(/at most 6291456 bytes/) } });
    } finally {
      held.destroy();
    }
    // Gone, it gives its share back.
    let after = await upload('later.ora', stackOra('ok'));
    for (let i = 0; i < 100 && after.status === 503; i++) after = await upload('later.ora', stackOra('ok'));
    expect(after.status).toBe(200);
  });

  it.runIf(process.platform === 'linux')('refuses projects.export to /proc or a device at once', async () => {
    const opened = (await upload('p.atelier', fs.readFileSync(SAMPLE))).json().result as { sessionId: string };
    for (const out of ['/proc/x/y.png', '/dev/null']) {
      const res = await request({
        path: '/api/call',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ v: 1, method: 'projects.export', params: { sessionId: opened.sessionId, format: 'png', out } }),
      });
      expect(res.json()).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringMatching(/special file system/) } });
    }
    await service.call('projects.close', { sessionId: opened.sessionId });
  });
});
