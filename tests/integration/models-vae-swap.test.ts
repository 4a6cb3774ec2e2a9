import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiError, StudioEvent } from '../../app/contract/index.js';
import { decodeImage } from '../../app/engine/image.js';
import { readPngMetadata } from '../../app/formats/png-metadata.js';
import { type StudioService, createStudio } from '../../app/service/index.js';
import { importModel } from '../../app/service/model-import.js';
import { vaesDir } from '../../app/service/model-vae.js';
import { tempHome } from '../helpers/home.js';
import { until } from '../helpers/until.js';

// A VAE chosen per generation (GenerationRequest.vae, docs/models.md "VAE swap"): the fixture
// checkpoint with the standalone vae-alt.safetensors swapped in at run time must give the
// image of the same checkpoint imported with that VAE built into its folder (--vae), and
// differ from the checkpoint's own VAE; img2img with a VAE whose encoder differs too proves the
// swapped encoder runs.

const CKPT = path.resolve('tests/fixtures/checkpoint');
const VAE = path.join(CKPT, 'vae-alt.safetensors');
const TOKENIZER = path.resolve('tests/fixtures/models/sd1-tiny/tokenizer');
const HINTS = { unet: { heads: 4, normNumGroups: 4, sampleSize: 8 }, vaeNormGroups: 4, clipHeads: 4 };
const { home, cleanup } = tempHome('atelier-vae-swap-');
let studio: StudioService;
/** Registered ids of the two imports. */
let tiny: string;
let tinyAlt: string;
let tinyEnc: string;
const VAE_ENC = path.join(home, 'vae-enc.safetensors');

/** A copy of a safetensors file with one float16 tensor's signs flipped. */
function withNegated(file: Buffer, name: string): Buffer {
  const out = Buffer.from(file);
  const headerBytes = Number(out.readBigUInt64LE(0));
  const header = JSON.parse(out.subarray(8, 8 + headerBytes).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const t = header[name]!;
  expect(t.dtype).toBe('F16');
  for (let at = 8 + headerBytes + t.data_offsets[0]; at < 8 + headerBytes + t.data_offsets[1]; at += 2) out.writeUInt16LE(out.readUInt16LE(at) ^ 0x8000, at);
  return out;
}
const events: StudioEvent[] = [];

beforeAll(async () => {
  studio = await createStudio({ transport: 'web', home, starterDir: path.join(home, 'no-starter') });
  studio.subscribe((e) => events.push(e));
  // Float16 storage (the importer's default): the swapped graphs must follow the model's.
  tiny = (await importModel({ home, source: path.join(CKPT, 'sd1-tiny.safetensors'), name: 'tiny', hints: HINTS, tokenizerDir: TOKENIZER })).entry.id;
  // The same VAE with its encoder changed too (quant_conv's bias negated): img2img proves the swapped encoder runs.
  fs.writeFileSync(VAE_ENC, withNegated(fs.readFileSync(VAE), 'quant_conv.bias'));
  tinyEnc = (await importModel({ home, source: path.join(CKPT, 'sd1-tiny.safetensors'), name: 'tiny-enc', hints: HINTS, tokenizerDir: TOKENIZER, vae: VAE_ENC })).entry.id;
  tinyAlt = (await importModel({ home, source: path.join(CKPT, 'sd1-tiny.safetensors'), name: 'tiny-alt', hints: HINTS, tokenizerDir: TOKENIZER, vae: VAE })).entry.id;
});
afterAll(async () => {
  await studio.close();
  cleanup();
});

async function finished(jobId: string): Promise<StudioEvent> {
  await until(() => events.some((e) => 'jobId' in e && e.jobId === jobId && (e.type === 'job.completed' || e.type === 'job.failed')), { timeout: 60_000, what: `job ${jobId}` });
  return events.filter((e) => 'jobId' in e && e.jobId === jobId).at(-1)!;
}

async function run(model: string, vae?: string, init?: string): Promise<{ pixels: Uint8Array; generationId: string; png: Buffer }> {
  const img2img = init ? { init: { png: init }, strength: 0.5 } : {};
  const { jobId } = await studio.call('generate', { request: { model, prompt: 'a red house on a hill', seed: 5, steps: 2, ...(vae ? { vae } : {}), ...img2img } });
  const last = await finished(jobId);
  expect(last, JSON.stringify(last)).toMatchObject({ type: 'job.completed' });
  const done = last as Extract<StudioEvent, { type: 'job.completed' }>;
  const file = studio.mediaFile('image', done.candidates[0]!.sha256)!;
  return { pixels: (await decodeImage(file)).data, generationId: done.generationId, png: fs.readFileSync(file) };
}

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('VAE swap per generation', () => {
  it('gives the image of the same VAE built into the model, not the default one; PNG, history and recall keep it', async () => {
    const own = await run(tiny);
    const built = await run(tinyAlt);
    const swapped = await run(tiny, VAE);
    expect(maxDiff(swapped.pixels, built.pixels)).toBeLessThanOrEqual(1);
    expect(maxDiff(swapped.pixels, own.pixels)).toBeGreaterThan(16);

    const sha = crypto.createHash('sha256').update(fs.readFileSync(VAE)).digest('hex');
    const parameters = readPngMetadata(swapped.png).chunks.parameters!;
    expect(parameters).toContain(`VAE hash: ${sha.slice(0, 10)}, VAE: vae-alt.safetensors`);
    expect(readPngMetadata(own.png).chunks.parameters).not.toContain('VAE');

    const recalled = await studio.call('library.recall', { id: swapped.generationId });
    expect(recalled.request.vae).toBe(VAE);
    // The model folder itself is untouched: its own VAE still gives its own image.
    expect(maxDiff((await run(tiny)).pixels, own.pixels)).toBe(0);
  });

  it('encodes with the swapped VAE too: img2img equals the built-in one', async () => {
    // A 64×64 gradient: the encoder of the swapped VAE turns it into the latent img2img starts from.
    const rgba = Buffer.alloc(64 * 64 * 4);
    for (let i = 0; i < 64 * 64; i++) rgba.set([(i % 64) * 4, Math.floor(i / 64) * 4, 128, 255], i * 4);
    const init = (await sharp(rgba, { raw: { width: 64, height: 64, channels: 4 } }).png().toBuffer()).toString('base64');
    const swapped = await run(tiny, VAE_ENC, init);
    expect(maxDiff(swapped.pixels, (await run(tinyEnc, undefined, init)).pixels)).toBeLessThanOrEqual(1);
    // vae-alt's decoder with the model's encoder would be this: the encoder made the difference.
    expect(maxDiff(swapped.pixels, (await run(tinyAlt, undefined, init)).pixels)).toBeGreaterThan(16);
  });

  it('finds a VAE by name in ATELIER_HOME/vae and reuses its built graphs', async () => {
    fs.mkdirSync(vaesDir(home), { recursive: true });
    fs.copyFileSync(VAE, path.join(vaesDir(home), 'alt.safetensors'));
    const graphs = () => fs.readdirSync(path.join(home, 'cache', 'vae', 'graphs')).filter((d) => !d.includes('.tmp-'));
    const before = graphs().length;
    const byName = await run(tiny, 'alt');
    // Same bytes, same hash: the graphs built for the path above serve the name too.
    expect(graphs().length).toBe(before);
    expect(maxDiff(byName.pixels, (await run(tinyAlt)).pixels)).toBeLessThanOrEqual(1);
    expect(readPngMetadata(byName.png).chunks.parameters).toContain('VAE: alt.safetensors,');
  });

  it('refuses a missing VAE and a file that is not a VAE, by name, before running', async () => {
    const missing = await studio.call('generate', { request: { model: tiny, prompt: 'x', seed: 1, steps: 1, vae: 'nope' } });
    const a = (await finished(missing.jobId)) as Extract<StudioEvent, { type: 'job.failed' }>;
    expect(a.error).toMatchObject({ code: 'not_found' });
    expect(a.error.message).toMatch(/VAE "nope" not found/);
    const lora = path.join(CKPT, 'lora', 'lora-kohya.safetensors');
    const notVae = await studio.call('generate', { request: { model: tiny, prompt: 'x', seed: 1, steps: 1, vae: lora } });
    const b = (await finished(notVae.jobId)) as Extract<StudioEvent, { type: 'job.failed' }>;
    expect(b.error).toMatchObject({ code: 'invalid_model' });
    expect(b.error.message).toMatch(/lora-kohya\.safetensors is not a VAE/);
    expect((b.error as ApiError).code).not.toBe('engine_failed');
  });
});
