import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashModelFiles, listModelFiles } from '../../app/library/model-hash.js';
import { ModelServer } from '../../app/service/farm/model-server.js';
import { ModelStore } from '../../app/service/farm/model-store.js';

// The studio's model endpoint and a worker's model store (docs/farm.md, "Models"): a fetch
// that resumes where an earlier one stopped (HTTP Range), is checked file by file and against
// the model's hash, and is refused without the token or for a model that is not the one named.

const SD1 = path.resolve('tests/fixtures/models/sd1-tiny');
const HASH = hashModelFiles(listModelFiles(SD1));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-farm-models-'));
const sent: Array<{ file: string; start: number }> = [];
let server: ModelServer;

beforeAll(async () => {
  server = new ModelServer({ dir: path.join(tmp, 'studio'), listen: '127.0.0.1:0', onSend: (_hash, file, start) => sent.push({ file, start }) });
  await server.start();
  server.offer(HASH, SD1);
});

afterAll(async () => {
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('model fetching', () => {
  it('resumes a file an earlier fetch left short, and checks what it got', async () => {
    const storeDir = path.join(tmp, 'store-resume');
    const unet = fs.readFileSync(path.join(SD1, 'unet', 'model.onnx'));
    const half = Math.floor(unet.length / 2);
    fs.mkdirSync(path.join(storeDir, `.partial-${HASH}`, 'unet'), { recursive: true });
    fs.writeFileSync(path.join(storeDir, `.partial-${HASH}`, 'unet', 'model.onnx'), unet.subarray(0, half));
    const store = new ModelStore(storeDir);
    const dir = await store.resolve({ hash: HASH, name: 'sd1-tiny' }, server.source());
    expect(dir).toBe(path.join(storeDir, HASH));
    expect(hashModelFiles(listModelFiles(dir))).toBe(HASH);
    expect(sent.find((s) => s.file === 'unet/model.onnx')).toEqual({ file: 'unet/model.onnx', start: half });
    expect(fs.existsSync(path.join(storeDir, `.partial-${HASH}`))).toBe(false);
    // Held now: a second job needs no fetch, and a new store finds it on disk.
    const before = sent.length;
    expect(await store.resolve({ hash: HASH, name: 'sd1-tiny' }, server.source())).toBe(dir);
    expect(new ModelStore(storeDir).hashes()).toEqual([HASH]);
    expect(sent.length).toBe(before);
  });

  it('fetches a file again when the piece it resumes from is wrong', async () => {
    const storeDir = path.join(tmp, 'store-wrong');
    fs.mkdirSync(path.join(storeDir, `.partial-${HASH}`, 'unet'), { recursive: true });
    fs.writeFileSync(path.join(storeDir, `.partial-${HASH}`, 'unet', 'model.onnx'), Buffer.alloc(1000, 7));
    const dir = await new ModelStore(storeDir).resolve({ hash: HASH, name: 'sd1-tiny' }, server.source());
    expect(hashModelFiles(listModelFiles(dir))).toBe(HASH);
  });

  it('is refused without the token, and for a hash the studio has not offered', async () => {
    const store = new ModelStore(path.join(tmp, 'store-refused'));
    await expect(store.resolve({ hash: HASH, name: 'sd1-tiny' }, { ...server.source(), token: 'x'.repeat(43) })).rejects.toMatchObject({ code: 'invalid_model', message: expect.stringContaining('401') });
    await expect(store.resolve({ hash: 'f'.repeat(64), name: 'other' }, server.source())).rejects.toMatchObject({ code: 'invalid_model', message: expect.stringContaining('404') });
    await expect(store.resolve({ hash: 'f'.repeat(64), name: 'other' }, null)).rejects.toMatchObject({ code: 'invalid_model', message: expect.stringContaining('serves no models') });
  });

  it('serves nothing for a model folder that changed since it was offered', async () => {
    const copy = path.join(tmp, 'changed');
    fs.cpSync(SD1, copy, { recursive: true });
    server.offer('e'.repeat(64), copy);
    const store = new ModelStore(path.join(tmp, 'store-changed'));
    await expect(store.resolve({ hash: 'e'.repeat(64), name: 'changed' }, server.source())).rejects.toMatchObject({ code: 'invalid_model', message: expect.stringContaining('500') });
  });
});
