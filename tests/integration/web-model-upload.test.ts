import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKPOINT_CONTENT_TYPE, type StudioEvent } from '../../app/contract/index.js';
import { type StudioService, createStudio } from '../../app/service/index.js';
import { uploadsFolder } from '../../main/web/model-upload.js';
import { type WebServer, startWebServer } from '../../main/web/server.js';
import { tempHome } from '../helpers/home.js';
import { until } from '../helpers/until.js';

// Web mode's model import from the browser's file picker (main/web/model-upload.ts): the
// checkpoint (after its companions: NAME.yaml, NAME.preview.png, NAME.atelier.json) is
// streamed to <home>/uploads/models/<batch>/, imported by the ordinary job, and the batch is
// removed when the job ends; bad uploads leave nothing behind. The tiny fixture checkpoint
// travels with a sidecar of its hints (its own sidecar names a tokenizer folder beside it,
// which a browser cannot send: the import takes CLIP's vocabulary then).

const CKPT = path.resolve('tests/fixtures/checkpoint/sd1-tiny.safetensors');
const MAX = 8 * 1024 * 1024;
const { home, cleanup } = tempHome('atelier-web-upload-');
let studio: StudioService;
let server: WebServer;
const events: StudioEvent[] = [];
const uploads = () => (fs.existsSync(uploadsFolder(home)) ? fs.readdirSync(uploadsFolder(home)) : []);

beforeAll(async () => {
  studio = await createStudio({ transport: 'web', home, starterDir: path.join(home, 'no-starter') });
  studio.subscribe((e) => events.push(e));
  server = await startWebServer({ service: studio, uiDir: 'dist/renderer', maxCheckpointBytes: MAX });
});
afterAll(async () => {
  await server.close();
  await studio.close();
  cleanup();
});

interface Answer {
  status: number;
  json: { ok: boolean; result?: { jobId: string }; error?: { code: string; message: string } };
}

/** POSTs `body` (or, with `cut`, only its first `cut` bytes before the socket is destroyed). */
function upload(name: string, body: Buffer, extra: { token?: string | null; type?: string; length?: number; cut?: number; batch?: string } = {}): Promise<Answer | 'aborted'> {
  const auth = extra.token === null ? {} : { authorization: `Bearer ${extra.token ?? server.token}` };
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        // a connection per upload, as a browser's retry after a refusal may take
        agent: false,
        host: '127.0.0.1',
        port: server.port,
        path: `/api/models/upload?name=${encodeURIComponent(name)}&batch=${extra.batch ?? 'batch0001'}`,
        method: 'POST',
        headers: { host: `127.0.0.1:${server.port}`, 'content-type': extra.type ?? CHECKPOINT_CONTENT_TYPE, 'content-length': String(extra.length ?? body.length), ...auth },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Answer['json'] }));
      },
    );
    // The server may answer (413, 401) before reading the whole body and close the socket: the answer still comes.
    req.on('error', (error: NodeJS.ErrnoException) => (extra.cut !== undefined ? resolve('aborted') : error.code === 'EPIPE' || error.code === 'ECONNRESET' ? undefined : reject(error)));
    if (extra.cut !== undefined) {
      req.write(body.subarray(0, extra.cut), () => setImmediate(() => req.destroy()));
      return;
    }
    req.end(body);
  });
}

const jobEnd = (jobId: string) =>
  until(() => events.find((e): e is Extract<StudioEvent, { type: 'models.job' }> => e.type === 'models.job' && e.jobId === jobId && ['completed', 'failed', 'cancelled'].includes(e.state)), { timeout: 60_000, what: `import job ${jobId}` });

describe('web mode: a checkpoint from the file picker', () => {
  it('streams it to disk beside its companions, imports it with the ordinary job, and removes the batch when the job ends', async () => {
    const hints = JSON.parse(fs.readFileSync(CKPT.replace(/\.safetensors$/, '.atelier.json'), 'utf8')) as { hints: unknown };
    const sidecar = (await upload('My Tiny (v1).atelier.json', Buffer.from(JSON.stringify({ hints: hints.hints })), { batch: 'batch0002' })) as Answer;
    expect(sidecar).toMatchObject({ status: 200, json: { result: { stored: 'My_Tiny_v1_.atelier.json' } } });
    const answer = (await upload('My Tiny (v1).safetensors', fs.readFileSync(CKPT), { batch: 'batch0002' })) as Answer;
    expect(answer.status, JSON.stringify(answer.json)).toBe(200);
    const end = await jobEnd(answer.json.result!.jobId);
    expect(end, JSON.stringify(end)).toMatchObject({ state: 'completed', modelName: 'My_Tiny_v1_' });
    const catalog = await studio.call('models.catalog', {});
    const model = catalog.find((m) => m.name === 'My_Tiny_v1_');
    expect(model?.family).toBe('sd1');
    // the file's own sha256 is the model's, as for an import by path
    expect(model?.sha256).toBe(crypto.createHash('sha256').update(fs.readFileSync(CKPT)).digest('hex'));
    await until(() => uploads().length === 0, { timeout: 10_000, what: 'the batch to be removed' });
  });

  it('refuses other files, a missing length, an oversized upload and strangers, keeping nothing', async () => {
    const bytes = fs.readFileSync(CKPT);
    expect(await upload('model.ckpt', bytes)).toMatchObject({ status: 400, json: { error: { message: expect.stringMatching(/\.safetensors checkpoint.*pickles can run code/) } } });
    expect(await upload('a.safetensors', bytes, { batch: '../etc' })).toMatchObject({ status: 400, json: { error: { message: expect.stringMatching(/names no batch/) } } });
    expect(await upload('big.safetensors', Buffer.alloc(16), { length: MAX + 1 })).toMatchObject({ status: 413 });
    expect(await upload('a.safetensors', bytes, { token: null })).toMatchObject({ status: 401 });
    expect(await upload('a.safetensors', bytes, { token: 'wrong' })).toMatchObject({ status: 401 });
    expect(uploads()).toEqual([]);
  });

  it('keeps nothing of an upload the browser abandons half-way, or of a file that is no checkpoint', async () => {
    const bytes = fs.readFileSync(CKPT);
    expect(await upload('half.safetensors', bytes, { cut: 64 * 1024 })).toBe('aborted');
    await until(() => uploads().length === 0, { timeout: 10_000, what: 'the partial upload to be removed' });
    // Not a safetensors file: the job fails with the importer's reason, and the upload goes.
    const answer = (await upload('noise.safetensors', Buffer.from('this is not a checkpoint at all'))) as Answer;
    expect(answer.status).toBe(200);
    expect(await jobEnd(answer.json.result!.jobId)).toMatchObject({ state: 'failed' });
    await until(() => uploads().length === 0, { timeout: 10_000, what: 'the failed upload to be removed' });
  });
});
