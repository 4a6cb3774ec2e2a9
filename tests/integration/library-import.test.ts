import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Library, openLibrary } from '../../app/library/index.js';
import { readPngMetadata } from '../../app/formats/png-metadata.js';
import { tempHome } from '../helpers/home.js';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/images');
const fixture = (name: string): string => path.join(FIXTURES, name);

let home: string;
let cleanup: () => void;
let library: Library;

beforeEach(() => {
  ({ home, cleanup } = tempHome('atelier-import-'));
  library = openLibrary(home);
});
afterEach(() => {
  library.close();
  cleanup();
});

function libraryFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (!entry.name.startsWith('library.sqlite') && !entry.name.startsWith('.open-')) out.push(p);
    }
  };
  walk(path.join(home, 'library'));
  return out;
}

async function importOne(name: string) {
  const [result] = await library.importFiles([fixture(name)]);
  expect(result!.ok, JSON.stringify(result)).toBe(true);
  return { result: result!, record: library.get(result!.generationId!) };
}

describe('importing images made elsewhere', () => {
  it('reads A1111 parameters into a re-runnable request', async () => {
    const { result, record } = await importOne('a1111-txt2img.png');
    expect(result).toMatchObject({ source: 'a1111', withParameters: true });
    expect(record).toMatchObject({
      status: 'imported',
      prompt: 'masterpiece, a lighthouse on a cliff at dusk, (dramatic sky:1.2)',
      negativePrompt: 'lowres, blurry, watermark',
      modelName: 'v1-5-pruned-emaonly',
      modelHash: '6ce0161689',
      steps: 28,
      cfg: 6.5,
      seed: 1234567890,
      width: 512,
      height: 768,
    });
    expect(record.importedParameters).toMatchObject({ 'Clip skip': '2', 'TI hashes': 'easynegative: c74b4e810b03' });
    const recall = library.recall(record.id, { currentModelHash: () => undefined });
    expect(recall.request).toMatchObject({ model: 'v1-5-pruned-emaonly', sampler: 'dpmpp_2m_karras', steps: 28, cfg: 6.5, seed: 1234567890, width: 512, height: 768 });
    // A1111 draws noise on the GPU by default: the same seed is not the same image here.
    expect(recall.warnings.join()).toMatch(/noise on the GPU/);
    expect(library.search({ text: 'lighthouse' }).items.map((g) => g.id)).toEqual([record.id]);
    expect(library.search({ source: 'a1111' }).total).toBe(1);
  });

  it('reads UTF-8 iTXt parameters, img2img strength and old sampler names', async () => {
    const { record } = await importOne('a1111-img2img-utf8.png');
    expect(record).toMatchObject({ prompt: '富士山の水彩画, 桜', negativePrompt: '低品質', mode: 'img2img', strength: 0.55, seed: 42 });
    expect(record.request).toMatchObject({ sampler: 'euler_a' });
    expect(record.importNote).toMatch(/source image is not in the file/);
    expect(record.importNote).not.toMatch(/noise on the/); // RNG: CPU matches ours
    const old = await importOne('a1111-old-karras.png');
    expect(old.record.request).toMatchObject({ sampler: 'dpmpp_2m_karras', cfg: 8, seed: 7 });
  });

  it('recognises Forge', async () => {
    const { result, record } = await importOne('forge.png');
    expect(result.source).toBe('forge');
    expect(record).toMatchObject({ prompt: 'a glass teapot full of galaxies', negativePrompt: '', seed: 3141592, width: 896, height: 1152 });
    expect(record.importedParameters).toMatchObject({ 'Distilled CFG Scale': '3.5' });
  });

  it('keeps parameters without an Atelier sampler, but offers no request', async () => {
    const { record } = await importOne('a1111-unknown-sampler.png');
    expect(record.request).toBeNull();
    expect(record.steps).toBe(30);
    expect(record.importNote).toMatch(/"DPM\+\+ SDE \(Karras\)" has no Atelier equivalent/);
    expect(() => library.recall(record.id)).toThrow(/without re-runnable parameters/);
  });

  it('reads the ComfyUI API graph: sampler, prompts, checkpoint, size', async () => {
    const { result, record } = await importOne('comfyui.png');
    expect(result.source).toBe('comfyui');
    expect(record).toMatchObject({
      prompt: 'beautiful scenery nature glass bottle landscape, purple galaxy bottle,',
      negativePrompt: 'text, watermark',
      modelName: 'v1-5-pruned-emaonly.safetensors',
      steps: 20,
      cfg: 8,
      seed: 156680208700286,
      width: 512,
      height: 512,
    });
    expect(record.request).toMatchObject({ sampler: 'euler' });
    expect(record.importNote).toBeNull();
    const lora = await importOne('comfyui-lora.png');
    expect(lora.record).toMatchObject({ modelName: 'v1-5-pruned-emaonly.safetensors', seed: 777 });
    expect(lora.record.request).toMatchObject({ sampler: 'dpmpp_2m_karras' });
  });

  it('reads InvokeAI core metadata', async () => {
    const { result, record } = await importOne('invokeai.png');
    expect(result.source).toBe('invokeai');
    expect(record).toMatchObject({ prompt: 'a cozy reading nook, warm light', negativePrompt: 'people', modelName: 'Dreamshaper 8', seed: 2718281828, steps: 30, cfg: 7.5, width: 512, height: 768 });
    expect(record.modelHash).toMatch(/^blake3:/);
    expect(record.request).toMatchObject({ sampler: 'dpmpp_2m_karras', model: 'Dreamshaper 8' });
  });

  it.each([
    ['gimp-comment.png', /no generation metadata found \(text chunks: Software, Comment\)/],
    ['plain.png', /no generation metadata in the file/],
    ['comfyui-malformed.png', /ComfyUI "prompt" chunk is malformed: not valid JSON/],
    ['comfyui-workflow-only.png', /without its API "prompt" graph/],
  ])('imports %s without parameters and says why', async (name, why) => {
    const [result] = await library.importFiles([fixture(name)]);
    expect(result).toMatchObject({ ok: true, withParameters: false });
    expect(result!.note).toMatch(why);
    const record = library.get(result!.generationId!);
    expect(record.request).toBeNull();
    expect(fs.existsSync(library.imagePath(record.candidates[0]!.sha256))).toBe(true);
  });

  it.each([
    ['hostile-huge-dimensions.png', /100000×100000/],
    ['hostile-text-bomb.png', /inflates beyond the text limit/],
    ['hostile-endless-text.png', /in total/],
    ['hostile-oversized-chunk.png', /truncated/],
    ['hostile-truncated.png', /truncated/],
    ['hostile-not-png.png', /Not a PNG/],
    ['hostile-corrupt-pixels.png', /cannot be decoded|corrupt|inflate|zlib/i],
    ['hostile-bad-crc.png', /CRC/],
  ])('refuses %s with a clear error and leaves nothing behind', async (name, why) => {
    const before = libraryFiles();
    const [result] = await library.importFiles([fixture(name)]);
    expect(result).toMatchObject({ ok: false, error: { code: 'invalid_file' } });
    expect(result!.error!.message).toMatch(why);
    expect(library.search({}).total).toBe(0);
    expect((library.db.prepare('SELECT count(*) AS n FROM images').get() as { n: number }).n).toBe(0);
    expect(libraryFiles()).toEqual(before);
  });

  it('imports a batch, refusing the bad files and keeping the good ones', async () => {
    const results = await library.importFiles([fixture('a1111-txt2img.png'), fixture('hostile-truncated.png'), path.join(FIXTURES, 'missing.png'), fixture('invokeai.png')]);
    expect(results.map((r) => r.ok)).toEqual([true, false, false, true]);
    expect(results[2]!.error!.code).toBe('not_found');
    expect(library.search({}).total).toBe(2);
    const again = await library.importFiles([fixture('a1111-txt2img.png')]);
    expect(again[0]).toMatchObject({ ok: true, generationId: results[0]!.generationId, note: 'already in the library' });
  });
});

describe('export and round trip', () => {
  it('exports what recording stamped: the Lora hashes, Refiner and VAE hash no row holds', async () => {
    const g = await library.recordGeneration({
      request: { model: 'tiny', prompt: 'a red house <lora:style:0.8>', sampler: 'euler', steps: 4, cfg: 5, seed: 9, width: 64, height: 64, vae: 'alt', refiner: { model: 'refiner', switchAt: 0.8 } },
      modelName: 'tiny',
      modelHash: 'abc123def4567890',
      appVersion: '0.1.0',
      loraHashes: 'style: 0123456789ab',
      refiner: 'refiner [fedcba9876]',
      vaeHash: '5e5e5e5e5e',
      vaeName: 'alt.safetensors',
      candidates: [{ index: 0, seed: 9, image: { width: 8, height: 8, data: new Uint8Array(256).fill(90) } }],
    });
    const [file] = await library.exportGeneration(g.id, path.join(home, 'export-extras'));
    const parameters = readPngMetadata(fs.readFileSync(file!)).chunks.parameters!;
    expect(parameters).toContain('Lora hashes: "style: 0123456789ab"');
    expect(parameters).toContain('Refiner: refiner [fedcba9876]');
    expect(parameters).toContain('VAE hash: 5e5e5e5e5e');
    expect(fs.readFileSync(file!).equals(fs.readFileSync(library.imagePath(g.candidates[0]!.sha256)))).toBe(true);
  });

  it('exports PNGs with A1111 parameters and our record, which import back exactly', async () => {
    const g = await library.recordGeneration({
      request: { model: 'starter', prompt: 'a paper boat, origami', negativePrompt: 'photo', sampler: 'euler', steps: 9, cfg: 4, seed: 500, batch: 2, width: 64, height: 64 },
      modelName: 'starter',
      modelHash: 'abc123def4567890',
      appVersion: '0.1.0',
      candidates: [0, 1].map((k) => ({ index: k, seed: 500 + k, image: { width: 8, height: 8, data: new Uint8Array(256).fill(40 + k) } })),
    });
    const out = path.join(home, 'export');
    const files = await library.exportGeneration(g.id, out);
    expect(files).toHaveLength(2);
    const meta = readPngMetadata(fs.readFileSync(files[1]!));
    expect(meta.chunks.parameters).toBe(
      'a paper boat, origami\nNegative prompt: photo\nSteps: 9, Sampler: Euler, CFG scale: 4, Seed: 501, Size: 8x8, Model hash: abc123def4, Model: starter, Version: atelier-0.1.0',
    );
    const record = JSON.parse(meta.chunks.atelier!);
    expect(record).toMatchObject({ format: 'atelier', candidateId: g.candidates[1]!.id, request: { ...g.request, seed: 501, batch: 1 } });

    // Into a second library: the entry comes back as our own, re-runnable exactly.
    const { home: other, cleanup: clean } = tempHome();
    const second = openLibrary(other);
    try {
      const [imported] = await second.importFiles([files[1]!]);
      expect(imported).toMatchObject({ ok: true, source: 'atelier', withParameters: true });
      const recall = second.recall(imported!.generationId!, { currentModelHash: () => 'abc123def4567890' });
      expect(recall.request).toEqual({ ...g.request, seed: 501, batch: 1 });
      expect(recall.warnings).toEqual([]);
    } finally {
      second.close();
      clean();
    }
  });
});
