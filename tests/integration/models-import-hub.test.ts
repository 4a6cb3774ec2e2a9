import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../app/contract/index.js';
import { downloadModel } from '../../app/service/model-download.js';
import { modelsDir } from '../../app/service/model-import.js';
import { tempHome } from '../helpers/home.js';
import { listFiles, startStandInHub, type StandInHub } from '../helpers/stand-in-hub.js';

// Hub downloads against a local stand-in for huggingface.co on 127.0.0.1 (docs/models.md,
// tests/helpers/stand-in-hub.ts): model info with siblings and LFS hashes, resolve/ answering
// with a redirect to a "CDN" path that honours Range, a gated repo, a lying hash, an
// interrupted transfer, and no server.

const CKPT = path.resolve('tests/fixtures/checkpoint/sd1-tiny.safetensors');
const ONNX = path.resolve('tests/fixtures/models/sd1-tiny');
const HINTS = { unet: { heads: 4, normNumGroups: 4, sampleSize: 8 }, vaeNormGroups: 4, clipHeads: 4 };
const TOKENIZER = path.resolve('tests/fixtures/models/sd1-tiny/tokenizer');
const { home, cleanup } = tempHome('atelier-hub-');
let hub: StandInHub;
let endpoint: string;

beforeAll(async () => {
  hub = await startStandInHub();
  endpoint = hub.endpoint;
  hub.repos.set('tester/tiny-checkpoint', new Map([['sd1-tiny.safetensors', fs.readFileSync(CKPT)], ['README.md', Buffer.from('# tiny')]]));
  hub.repos.set('tester/gated', new Map([['sd1-tiny.safetensors', fs.readFileSync(CKPT)]]));
  hub.gated.add('tester/gated');
  hub.repos.set('tester/liar', new Map([['sd1-tiny.safetensors', fs.readFileSync(CKPT)]]));
  hub.repos.set('tester/tiny-onnx', new Map(listFiles(ONNX)));
});
afterAll(async () => {
  await hub.close();
  cleanup();
});

const opts = { hints: HINTS, tokenizerDir: TOKENIZER, dtype: 'float32' as const };

async function refusal(p: Promise<unknown>): Promise<ApiError> {
  const e = await p.then(() => undefined, (error: unknown) => error);
  expect(e).toBeInstanceOf(ApiError);
  return e as ApiError;
}

describe('Hub downloads (local stand-in)', () => {
  it('resumes an interrupted checkpoint download with Range, verifies its sha256, imports it', async () => {
    hub.cutNext = true;
    const first = await refusal(downloadModel({ home, endpoint, ref: 'tester/tiny-checkpoint', ...opts }));
    expect(first.message).toMatch(/run it again to resume/);
    const staged = path.join(home, 'downloads', 'tester--tiny-checkpoint@main');
    expect(fs.readdirSync(staged)).toEqual(['sd1-tiny.safetensors.part']);
    // what arrived: the half the server sent
    const got = fs.statSync(path.join(staged, 'sd1-tiny.safetensors.part')).size;
    expect(got).toBe(fs.statSync(CKPT).size >> 1);
    const out = await downloadModel({ home, endpoint, ref: 'tester/tiny-checkpoint', ...opts });
    expect(out).toMatchObject({ kind: 'imported', path: path.join(modelsDir(home), 'tiny-checkpoint') });
    expect(out.entry.valid).toBe(true);
    const ranges = hub.seen.filter((s) => s.url.startsWith('/cdn/tester/tiny-checkpoint')).map((s) => s.range);
    expect(ranges).toEqual([undefined, `bytes=${got}-`]);
  });

  it('downloads an ONNX repo as it is and registers it', async () => {
    const out = await downloadModel({ home, endpoint, ref: 'tester/tiny-onnx', name: 'tiny onnx' });
    expect(out).toMatchObject({ kind: 'onnx', path: path.join(modelsDir(home), 'tiny onnx'), entry: { valid: true, name: 'tiny onnx' } });
    expect(fs.readFileSync(path.join(out.path, 'unet', 'model.onnx')).equals(fs.readFileSync(path.join(ONNX, 'unet', 'model.onnx')))).toBe(true);
  });

  it('sends HF_TOKEN for gated repos only to the Hub, and says so when it is missing', async () => {
    const e = await refusal(downloadModel({ home, endpoint, ref: 'tester/gated', token: '', ...opts }));
    expect(e.code).toBe('unauthorized');
    expect(e.message).toMatch(/set HF_TOKEN/);
    hub.seen.length = 0;
    const out = await downloadModel({ home, endpoint, ref: 'tester/gated', token: 'secret', ...opts });
    expect(out.kind).toBe('imported');
    expect(hub.seen.filter((s) => s.url.startsWith('/api/') || s.url.includes('/resolve/')).every((s) => s.auth === 'Bearer secret')).toBe(true);
  });

  it('discards a file whose sha256 is not the Hub\'s; refuses unknown repos and pickles; says when the Hub cannot be reached', async () => {
    hub.lie = true;
    const e = await refusal(downloadModel({ home, endpoint, ref: 'tester/liar', ...opts }));
    hub.lie = false;
    expect(e.code).toBe('invalid_file');
    expect(e.message).toMatch(/sha256 [0-9a-f]{64} is not the Hub's 0{64}; the download was discarded/);
    expect(fs.existsSync(path.join(modelsDir(home), 'liar'))).toBe(false);
    expect(fs.readdirSync(path.join(home, 'downloads', 'tester--liar@main'))).toEqual([]);
    expect((await refusal(downloadModel({ home, endpoint, ref: 'tester/absent' }))).code).toBe('not_found');
    expect((await refusal(downloadModel({ home, endpoint, ref: `${endpoint}/tester/x/resolve/main/model.ckpt` }))).message).toMatch(/only \.safetensors files/);
    const closed = await refusal(downloadModel({ home, endpoint: 'http://127.0.0.1:9', ref: 'tester/tiny-checkpoint' }));
    expect(closed.message).toMatch(/cannot reach 127\.0\.0\.1:9 \(offline\?/);
  });
});
