import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../app/contract/errors.js';
import { GenerationRequest, type GenerationRequestInput } from '../../app/contract/generation.js';
import { type Library, LibraryCorruptError, LibraryVersionError, openLibrary, recoverLibrary } from '../../app/library/index.js';
import { readPngMetadata } from '../../app/formats/png-metadata.js';
import { tempHome } from '../helpers/home.js';

function rgba(width: number, height: number, seed: number): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + seed * 97) & 0xff;
  return { width, height, data };
}

let home: string;
let cleanup: () => void;
let library: Library;

beforeEach(() => {
  ({ home, cleanup } = tempHome('atelier-library-'));
  library = openLibrary(home);
});
afterEach(() => {
  library.close();
  cleanup();
});

async function record(request: Partial<GenerationRequestInput> = {}, batch = 2, extras: { createdAt?: number } = {}) {
  const req = GenerationRequest.parse({ model: 'starter', prompt: 'a red fox in a snowy forest', seed: 100, batch, ...request });
  return library.recordGeneration({
    request: req,
    modelName: 'starter',
    modelHash: 'f'.repeat(64),
    device: 'cpu',
    appVersion: '0.1.0',
    timings: { total: 1234, unetStepMean: 50 },
    candidates: Array.from({ length: req.batch }, (_, k) => ({ index: k, seed: req.seed + k, image: rgba(16, 16, req.seed + k) })),
    ...extras,
  });
}

describe('recording and reading back', () => {
  it('records every parameter and stores images as content-addressed files', async () => {
    const g = await record({ negativePrompt: 'blurry', sampler: 'dpmpp_2m_karras', steps: 12, cfg: 5.5 });
    expect(g.id).toMatch(/^g_[0-9A-Z]{26}$/);
    expect(g.candidates).toHaveLength(2);
    expect(g.candidates.map((c) => c.seed)).toEqual([100, 101]);
    expect(g).toMatchObject({ status: 'completed', source: 'atelier', mode: 'txt2img', sampler: 'dpmpp_2m_karras', steps: 12, cfg: 5.5, device: 'cpu', appVersion: '0.1.0', modelHash: 'f'.repeat(64) });
    expect(g.timings).toEqual({ total: 1234, unetStepMean: 50 });
    for (const c of g.candidates) {
      const file = library.imagePath(c.sha256);
      expect(file).toBe(path.join(home, 'library', 'images', c.sha256.slice(0, 2), `${c.sha256}.png`));
      const meta = readPngMetadata(fs.readFileSync(file));
      expect(meta.width).toBe(16);
      expect(meta.chunks.parameters).toContain(`Seed: ${c.seed}`);
      expect(JSON.parse(meta.chunks.atelier!).candidateId).toBe(c.id);
      expect(fs.existsSync(library.thumbnailPath(c.sha256))).toBe(true);
    }
    expect(library.get(g.candidates[1]!.id).id).toBe(g.id);
  });

  it('stores input images and points the request at them by hash', async () => {
    const src = path.join(home, 'init.png');
    const first = await record();
    fs.copyFileSync(library.imagePath(first.candidates[0]!.sha256), src);
    const g = await record({ init: { path: src }, strength: 0.4, parentCandidateId: first.candidates[0]!.id }, 1);
    expect(g.mode).toBe('img2img');
    expect(g.request!.init).toEqual({ sha256: first.candidates[0]!.sha256 });
    expect(g.strength).toBe(0.4);
  });

  it('refuses unknown ids with not_found', () => {
    // Fails when nothing is thrown, unlike an assertion inside a catch.
    expect(() => library.get('g_nope')).toThrow(ApiError);
    expect(() => library.get('c_nope')).toThrow(expect.objectContaining({ code: 'not_found' }) as Error);
  });
});

describe('search', () => {
  beforeEach(async () => {
    const day = 24 * 3600 * 1000;
    const base = new Date(2026, 0, 10, 12).getTime();
    await record({ prompt: 'portrait of an old sailor, oil painting', seed: 1 }, 1, { createdAt: base });
    await record({ prompt: 'a lighthouse at dusk, watercolor', seed: 2, model: '/models/other' }, 1, { createdAt: base + day });
    await record({ prompt: 'portrait of a young painter', negativePrompt: 'watercolor', seed: 3, controls: [{ type: 'scribble', model: 'cn', image: { sha256: 'a'.repeat(64) } }] }, 1, { createdAt: base + 2 * day });
  });

  it('finds words, prefixes and phrases in prompts, newest first', () => {
    expect(library.search({ text: 'portrait' }).items.map((g) => g.seed)).toEqual([3, 1]);
    expect(library.search({ text: 'paint*' }).items.map((g) => g.seed)).toEqual([3, 1]);
    expect(library.search({ text: '"old sailor"' }).items.map((g) => g.seed)).toEqual([1]);
    expect(library.search({ text: 'portrait -sailor' }).items.map((g) => g.seed)).toEqual([3]);
    expect(library.search({ text: 'lighthouse dusk' }).total).toBe(1);
    expect(library.search({ text: 'PORTRAÏT' }).total).toBe(2);
  });

  it('searches negative prompts only when asked', () => {
    expect(library.search({ text: 'watercolor' }).items.map((g) => g.seed)).toEqual([2]);
    expect(library.search({ text: 'watercolor', includeNegative: true }).items.map((g) => g.seed)).toEqual([3, 2]);
  });

  it('treats FTS syntax typed by the artist as words', () => {
    expect(library.search({ text: 'NEAR( AND OR "' }).total).toBe(0);
    expect(library.search({ text: 'portrait^ :' }).total).toBe(2);
  });

  it('filters by model, date range, control, rating, tag, and pages', () => {
    expect(library.search({ model: '/models/other' }).items.map((g) => g.seed)).toEqual([2]);
    expect(library.search({ model: 'ffffffff' }).total).toBe(3);
    expect(library.search({ from: '2026-01-11', to: '2026-01-11' }).items.map((g) => g.seed)).toEqual([2]);
    expect(library.search({ hasControl: true }).items.map((g) => g.seed)).toEqual([3]);
    const all = library.search({ sort: 'oldest' });
    expect(all.items.map((g) => g.seed)).toEqual([1, 2, 3]);
    library.rate(all.items[1]!.candidates[0]!.id, { rating: 4, favourite: true });
    expect(library.search({ minRating: 3 }).items.map((g) => g.seed)).toEqual([2]);
    expect(library.search({ favourite: true }).items.map((g) => g.seed)).toEqual([2]);
    expect(library.search({ sort: 'rating' }).items[0]!.seed).toBe(2);
    library.tag([all.items[0]!.id, all.items[2]!.id], ['Keeper']);
    expect(library.search({ tag: 'keeper' }).items.map((g) => g.seed)).toEqual([3, 1]);
    const page = library.search({ limit: 2, offset: 2 });
    expect(page.total).toBe(3);
    expect(page.items.map((g) => g.seed)).toEqual([1]);
  });
});

describe('status filter', () => {
  it('keeps any of the statuses asked for (the history hides failed and cancelled runs)', async () => {
    await record({ seed: 1 }, 1);
    await library.recordGeneration({ request: GenerationRequest.parse({ model: 'starter', prompt: 'x', seed: 2 }), status: 'failed', error: 'out of memory', timings: {}, candidates: [] });
    await library.recordGeneration({ request: GenerationRequest.parse({ model: 'starter', prompt: 'x', seed: 3 }), status: 'cancelled', timings: {}, candidates: [] });
    expect(library.search({ statuses: ['completed', 'imported'] }).items.map((g) => g.seed)).toEqual([1]);
    expect(library.search({ statuses: ['failed', 'cancelled'], sort: 'oldest' }).items.map((g) => [g.seed, g.status])).toEqual([
      [2, 'failed'],
      [3, 'cancelled'],
    ]);
    expect(library.search({}).total).toBe(3);
  });

  it('recalls a candidate of a variation run with its own variation seed', async () => {
    const varied = await record({ seed: 50, variation: { seed: 70, strength: 0.25 } }, 3);
    const third = varied.candidates[2]!;
    expect(library.recall(third.id, { currentModelHash: () => 'f'.repeat(64) }).request).toMatchObject({ batch: 1, variation: { seed: 72, strength: 0.25 } });
  });
});

describe('lineage, recall, rating, deletion', () => {
  it('follows refinements up and down and recalls each candidate exactly', async () => {
    const root = await record({ seed: 10 }, 2);
    const child = await record({ seed: 20, parentCandidateId: root.candidates[1]!.id, init: { sha256: root.candidates[1]!.sha256 } }, 1);
    const grandchild = await record({ seed: 30, parentCandidateId: child.candidates[0]!.id }, 1);
    const lineage = library.lineage(child.id);
    expect(lineage.ancestors.map((n) => n.generationId)).toEqual([root.id]);
    expect(lineage.descendants.map((n) => n.generationId)).toEqual([grandchild.id]);
    expect(library.lineage(root.id).descendants.map((n) => n.generationId)).toEqual([child.id, grandchild.id]);
    expect(library.lineage(grandchild.candidates[0]!.id).ancestors.map((n) => n.generationId)).toEqual([root.id, child.id]);

    const recalled = library.recall(root.candidates[1]!.id, { currentModelHash: () => 'f'.repeat(64) });
    expect(recalled.request).toEqual({ ...root.request, seed: 11, batch: 1 });
    expect(recalled.warnings).toEqual([]);
    expect(library.recall(root.id, { currentModelHash: () => 'f'.repeat(64) }).request).toEqual(root.request);
    const changed = library.recall(root.id, { currentModelHash: () => 'e'.repeat(64) });
    expect(changed.warnings.join()).toMatch(/has changed since/);
    expect(library.recall(root.id, { currentModelHash: () => null }).warnings.join()).toMatch(/not available/);
  });

  it('warns when a model folder changed since the generation', async () => {
    const modelDir = path.join(home, 'my-model');
    fs.mkdirSync(path.join(modelDir, 'unet'), { recursive: true });
    fs.writeFileSync(path.join(modelDir, 'unet', 'model.onnx'), 'weights v1');
    const g = await library.recordGeneration({
      request: { model: modelDir, prompt: 'x', seed: 1 },
      modelHash: library.modelHash(modelDir),
      candidates: [{ index: 0, seed: 1, image: rgba(8, 8, 1) }],
    });
    expect(library.recall(g.id).warnings).toEqual([]);
    fs.writeFileSync(path.join(modelDir, 'unet', 'model.onnx'), 'weights v2!');
    expect(library.recall(g.id).warnings.join()).toMatch(/has changed since/);
  });

  it('refuses to orphan refinements, then deletes them and the files nothing references', async () => {
    const root = await record({ seed: 10 }, 2);
    const child = await record({ seed: 20, parentCandidateId: root.candidates[0]!.id }, 1);
    expect(() => library.delete([root.id])).toThrow(/refined from these/);
    const files = [...root.candidates, ...child.candidates].map((c) => library.imagePath(c.sha256));
    const result = library.delete([root.id], { withDescendants: true });
    expect(result).toEqual({ generations: 2, candidates: 3, files: 6 });
    for (const f of files) expect(fs.existsSync(f)).toBe(false);
    expect(library.search({}).total).toBe(0);
    expect(library.checkConsistency()).toEqual([]);
  });

  it('keeps a file still used by another entry', async () => {
    const a = await record({ seed: 5 }, 1);
    const b = await record({ seed: 5 }, 1); // same seed → same pixels → same file
    expect(b.candidates[0]!.sha256).not.toBe(a.candidates[0]!.sha256); // the record (ids) differs…
    const g = await library.recordGeneration({ request: { model: 'm', prompt: 'p', seed: 1 }, candidates: [{ index: 0, seed: 1, png: fs.readFileSync(library.imagePath(a.candidates[0]!.sha256)) }] });
    expect(g.candidates[0]!.sha256).toBe(a.candidates[0]!.sha256); // …but identical bytes share one file
    library.delete([a.id]);
    expect(fs.existsSync(library.imagePath(a.candidates[0]!.sha256))).toBe(true);
    library.delete([g.candidates[0]!.id]);
    expect(fs.existsSync(library.imagePath(a.candidates[0]!.sha256))).toBe(false);
  });

  it('rewrites a shared file deleted between storing it and recording its row', async () => {
    const a = await record({ seed: 8 }, 1);
    const png = fs.readFileSync(library.imagePath(a.candidates[0]!.sha256));
    const store = library.images.store.bind(library.images);
    // Another writer deletes the only entry using these bytes right after we found the file present.
    library.images.store = async (bytes, limits) => {
      const stored = await store(bytes, limits);
      library.delete([a.id]);
      expect(fs.existsSync(library.imagePath(stored.sha256))).toBe(false);
      return stored;
    };
    const b = await library.recordGeneration({ request: { model: 'm', prompt: 'p', seed: 8 }, candidates: [{ index: 0, seed: 8, png }] });
    expect(fs.existsSync(library.imagePath(b.candidates[0]!.sha256))).toBe(true);
    expect(library.checkConsistency()).toEqual([]);
  });

  it('rates candidates and refuses impossible ratings', async () => {
    const g = await record();
    expect(library.rate(g.candidates[0]!.id, { rating: 5, accepted: true })).toMatchObject({ rating: 5, accepted: true, favourite: false });
    expect(() => library.rate(g.candidates[0]!.id, { rating: 9 })).toThrow(/0 \(none\) to 5/);
  });
});

describe('schema versions, integrity, backup', () => {
  it('upgrades an older library and keeps its entries searchable', async () => {
    library.close();
    const { home: oldHome, cleanup: clean } = tempHome('atelier-old-');
    try {
      const v1 = openLibrary(oldHome, { targetVersion: 1 });
      expect(v1.schemaVersion).toBe(1);
      v1.insertGeneration({ id: 'g_OLD', created_at: Date.now(), status: 'completed', source: 'atelier', mode: 'txt2img', prompt: 'ancient mariner', model: 'starter' });
      v1.close();
      const upgraded = openLibrary(oldHome);
      expect(upgraded.openedFromVersion).toBe(1);
      expect(upgraded.schemaVersion).toBeGreaterThan(1);
      expect(upgraded.search({ text: 'marin*' }).items.map((g) => g.id)).toEqual(['g_OLD']);
      upgraded.close();
    } finally {
      clean();
      library = openLibrary(home);
    }
  });

  it('refuses a library from a newer Atelier, and a SQLite file that is not a library', () => {
    library.close();
    const db = new Database(path.join(home, 'library', 'library.sqlite'));
    db.pragma('user_version = 99');
    db.close();
    expect(() => openLibrary(home)).toThrow(LibraryVersionError);
    expect(() => openLibrary(home)).toThrow(/newer Atelier \(library schema v99/);
    const { home: other, cleanup: clean } = tempHome();
    fs.mkdirSync(path.join(other, 'library'));
    const foreign = new Database(path.join(other, 'library', 'library.sqlite'));
    foreign.exec('CREATE TABLE notes (x)');
    foreign.close();
    expect(() => openLibrary(other)).toThrow(/not an Atelier library/);
    clean();
    fs.rmSync(path.join(home, 'library'), { recursive: true });
    library = openLibrary(home);
  });

  it('detects a damaged database and recovers what can be read', async () => {
    for (let i = 0; i < 30; i++) await record({ prompt: `entry ${i} ${'long words '.repeat(40)}`, seed: i }, 1);
    library.close();
    const file = path.join(home, 'library', 'library.sqlite');
    const bytes = fs.readFileSync(file);
    // Scribble over an index page in the middle of the file.
    const pageSize = bytes.readUInt16BE(16);
    const pages = bytes.length / pageSize;
    let corrupted = false;
    for (let p = Math.floor(pages / 2); p < pages && !corrupted; p++) {
      const copy = Buffer.from(bytes);
      copy.fill(0x5a, p * pageSize + 8, p * pageSize + pageSize - 8);
      fs.writeFileSync(file, copy);
      try {
        openLibrary(home).close();
      } catch (error) {
        if (error instanceof LibraryCorruptError) corrupted = true;
      }
    }
    expect(corrupted).toBe(true);
    expect(() => openLibrary(home)).toThrow(/atelier history recover/);
    const report = recoverLibrary(home);
    expect(fs.existsSync(report.damagedCopy)).toBe(true);
    library = openLibrary(home);
    expect(library.checkConsistency()).toEqual([]);
    expect(library.search({}).total).toBeGreaterThan(0);
  });

  it('backs up online to a new file that opens as a library', async () => {
    await record();
    const target = path.join(home, 'backups', 'lib.sqlite');
    const { bytes } = await library.backup(target);
    expect(bytes).toBeGreaterThan(0);
    await expect(library.backup(target)).rejects.toThrow(/already exists/);
    const copy = new Database(target, { readonly: true });
    expect((copy.prepare('SELECT count(*) AS n FROM generations').get() as { n: number }).n).toBe(1);
    copy.close();
  });

  it('collects orphaned files left by a write that never committed', async () => {
    const g = await record();
    const orphanDir = path.join(home, 'library', 'images', 'ab');
    fs.mkdirSync(orphanDir, { recursive: true });
    const orphan = path.join(orphanDir, `ab${'0'.repeat(62)}.png`);
    fs.writeFileSync(orphan, 'x');
    fs.writeFileSync(path.join(orphanDir, '.tmp-1-abc'), 'partial');
    // Within the default grace a writer may still be about to commit: both are spared.
    expect(library.collectOrphans()).toMatchObject({ files: 0 });
    expect(library.collectOrphans({ graceMs: 0 })).toMatchObject({ files: 2 });
    expect(fs.existsSync(orphan)).toBe(false);
    expect(fs.existsSync(library.imagePath(g.candidates[0]!.sha256))).toBe(true);
  });
});
