import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StudioEvent } from '../../app/contract/index.js';
import { decodeImage } from '../../app/engine/image.js';
import { readPngMetadata } from '../../app/formats/png-metadata.js';
import { type StudioService, createStudio } from '../../app/service/index.js';
import { importModel } from '../../app/service/model-import.js';
import { applyEmbeddings, applyLoras, readEmbedding } from '../../app/engine/checkpoint/index.js';
import { embeddingsDir, lorasDir, parsePromptLoras } from '../../app/service/model-loras.js';
import { tempHome } from '../helpers/home.js';
import { until } from '../helpers/until.js';

// <lora:NAME:WEIGHT> and embedding names through the whole studio (docs/models.md): an
// imported checkpoint, a kohya LoRA in ATELIER_HOME/loras (the run used the patched set the
// engine test compares with torch's merge), and an embedding in ATELIER_HOME/embeddings used
// by its file name.

const LORA = path.resolve('tests/fixtures/checkpoint/lora');
const TOKENIZER = path.resolve('tests/fixtures/models/sd1-tiny/tokenizer');
const HINTS = { unet: { heads: 4, normNumGroups: 4, sampleSize: 8 }, vaeNormGroups: 4, clipHeads: 4 };
const { home, cleanup } = tempHome('atelier-loras-');
let studio: StudioService;
/** The imported model's image for 'a red house on a hill' without LoRAs (the first test's). */
let plainPixels: Buffer | undefined;
const events: StudioEvent[] = [];

beforeAll(async () => {
  studio = await createStudio({ transport: 'web', home, starterDir: path.join(home, 'no-starter') });
  studio.subscribe((e) => events.push(e));
});
afterAll(async () => {
  await studio.close();
  cleanup();
});

async function run(model: string, prompt: string): Promise<{ pixels: Buffer; generationId: string; png: Buffer }> {
  const { jobId } = await studio.call('generate', { request: { model, prompt, negativePrompt: 'blurry', seed: 3, steps: 2 } });
  await until(() => events.some((e) => 'jobId' in e && e.jobId === jobId && (e.type === 'job.completed' || e.type === 'job.failed')), { timeout: 60_000, what: `job ${jobId}` });
  const last = events.filter((e) => 'jobId' in e && e.jobId === jobId).at(-1)!;
  expect(last, JSON.stringify(last)).toMatchObject({ type: 'job.completed' });
  const done = last as Extract<StudioEvent, { type: 'job.completed' }>;
  const file = studio.mediaFile('image', done.candidates[0]!.sha256)!;
  return { pixels: Buffer.from((await decodeImage(file)).data), generationId: done.generationId, png: fs.readFileSync(file) };
}

describe('LoRA prompt tags', () => {
  it('parses A1111 tags and removes them from the text', () => {
    expect(parsePromptLoras('a house, <lora:style:0.8> on a hill <lyco:Other Thing> <lora:x:-0.5:te=1>')).toEqual({
      prompt: 'a house, on a hill',
      loras: [{ name: 'style', weight: 0.8 }, { name: 'Other Thing', weight: 1 }, { name: 'x', weight: -0.5 }],
    });
    expect(() => parsePromptLoras('<lora:style:lots>')).toThrow(/weight must be a number/);
  });

  it('applies <lora:NAME:WEIGHT> to an imported model; history keeps the tag, the PNG the hash; a missing LoRA fails clearly', async () => {
    const { entry } = await importModel({ home, source: path.resolve('tests/fixtures/checkpoint/sd1-tiny.safetensors'), name: 'tiny', hints: HINTS, tokenizerDir: TOKENIZER, dtype: 'float32' });
    fs.mkdirSync(lorasDir(home), { recursive: true });
    fs.copyFileSync(path.join(LORA, 'lora-kohya.safetensors'), path.join(lorasDir(home), 'style.safetensors'));
    const plain = await run(entry.id, 'a red house on a hill');
    plainPixels = plain.pixels;
    const withLora = await run(entry.id, 'a red house <lora:style:0.8> on a hill');
    // the patched folder's image equals the torch-merged weights' (engine-checkpoint-lora.test.ts); here: the service applies it
    const loraSha = crypto.createHash('sha256').update(fs.readFileSync(path.join(lorasDir(home), 'style.safetensors'))).digest('hex');
    const patched = await applyLoras(entry.path, [{ file: path.join(lorasDir(home), 'style.safetensors'), weight: 0.8, sha256: loraSha }], path.join(home, 'cache', 'lora'));
    expect(patched.cached).toBe(true);
    expect(withLora.pixels.equals(plain.pixels)).toBe(false);
    const record = (await studio.call('library.get', { id: withLora.generationId })) as { prompt: string };
    expect(record.prompt).toBe('a red house <lora:style:0.8> on a hill');
    // the PNG's A1111 parameters: the prompt as written and the LoRA's short hash
    const sha = crypto.createHash('sha256').update(fs.readFileSync(path.join(LORA, 'lora-kohya.safetensors'))).digest('hex');
    const parameters = readPngMetadata(withLora.png).chunks.parameters ?? '';
    expect(parameters).toContain('a red house <lora:style:0.8> on a hill\nNegative prompt: blurry\n');
    expect(parameters).toContain(`Lora hashes: "style: ${sha.slice(0, 10)}"`);
    expect(readPngMetadata(plain.png).chunks.parameters).not.toContain('Lora hashes');

    const { jobId } = await studio.call('generate', { request: { model: entry.id, prompt: 'a house <lora:absent:1>', seed: 1, steps: 1 } });
    await until(() => events.some((e) => 'jobId' in e && e.jobId === jobId && e.type === 'job.failed'), { timeout: 30_000, what: 'the job to fail' });
    const failed = events.find((e) => 'jobId' in e && e.jobId === jobId && e.type === 'job.failed') as Extract<StudioEvent, { type: 'job.failed' }>;
    expect(failed.error).toMatchObject({ code: 'not_found' });
    expect(failed.error.message).toMatch(/LoRA "absent" not found: no absent\.safetensors in/);
  });

  it('uses an embedding written by its file name (whole words, any case)', async () => {
    const entry = (await studio.call('models.list', {})).find((m) => m.name === 'tiny')!;
    fs.mkdirSync(embeddingsDir(home), { recursive: true });
    const file = path.join(embeddingsDir(home), 'tiny-style.safetensors');
    fs.copyFileSync(path.resolve('tests/fixtures/checkpoint/embeddings/tiny-style.safetensors'), file);
    const embedded = await applyEmbeddings(entry.path, [readEmbedding(file)], path.join(home, 'reference-embeddings'));
    const byName = await run(entry.id, 'a red house on a Tiny-Style hill');
    const byTokens = await run(embedded.dir, `a red house on a ${embedded.replacements['tiny-style']!} hill`);
    expect(byName.pixels.equals(byTokens.pixels)).toBe(true);
    expect(plainPixels && byName.pixels.equals(plainPixels)).toBe(false);
  });

  it('uses an SDXL embedding (clip_l and clip_g) by its name with an imported SDXL checkpoint; an SD one is refused there by name', async () => {
    const side = JSON.parse(fs.readFileSync(path.resolve('tests/fixtures/checkpoint/sdxl-tiny.atelier.json'), 'utf8')) as { hints: Parameters<typeof importModel>[0]['hints']; tokenizer: string };
    const { entry } = await importModel({ home, source: path.resolve('tests/fixtures/checkpoint/sdxl-tiny.safetensors'), name: 'tiny-xl', hints: side.hints, tokenizerDir: path.resolve('tests/fixtures/checkpoint', side.tokenizer) });
    const file = path.join(embeddingsDir(home), 'tiny-xl-style.safetensors');
    fs.copyFileSync(path.resolve('tests/fixtures/checkpoint/embeddings/tiny-xl-style.safetensors'), file);
    const embedded = await applyEmbeddings(entry.path, [readEmbedding(file)], path.join(home, 'reference-embeddings'));
    const byName = await run(entry.id, 'a red house on a tiny-xl-style hill');
    const byTokens = await run(embedded.dir, `a red house on a ${embedded.replacements['tiny-xl-style']!} hill`);
    expect(byName.pixels.equals(byTokens.pixels)).toBe(true);
    expect(byName.pixels.equals((await run(entry.id, 'a red house on a hill')).pixels)).toBe(false);
    expect((await studio.call('library.get', { id: byName.generationId })).prompt).toBe('a red house on a tiny-xl-style hill');
    // the SD 1.x embedding named with the SDXL model: the run fails, naming the file
    const { jobId } = await studio.call('generate', { request: { model: entry.id, prompt: 'a tiny-style house', seed: 3, steps: 2 } });
    await until(() => events.some((e) => 'jobId' in e && e.jobId === jobId && (e.type === 'job.completed' || e.type === 'job.failed')), { timeout: 60_000, what: `job ${jobId}` });
    expect(events.filter((e) => 'jobId' in e && e.jobId === jobId).at(-1)).toMatchObject({ type: 'job.failed', error: { message: expect.stringMatching(/tiny-style\.safetensors is an SD 1\.x\/2\.x embedding; this SDXL model takes SDXL embeddings/) } });
  }, 120_000);
});
