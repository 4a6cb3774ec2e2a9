import fs from 'node:fs';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_VERSION } from '../../app/contract/index.js';
import type { DocumentSnapshot } from '../../app/contract/library.js';
import { GenerationRequest } from '../../app/contract/generation.js';
import { type Library, openLibrary } from '../../app/library/index.js';
import { createDocument, createLayer, pngToDataUrl } from '../../app/projects/document/index.js';
import { StudioService, libraryHandlers } from '../../app/service/index.js';
import { tempHome } from '../helpers/home.js';

// Document snapshots (docs/canvas.md, "Branches"): the document a generation ran from, its
// layer pixels as content-addressed library images, deduplicated, kept from orphan collection.

let home: string;
let cleanup: () => void;
let library: Library;

beforeEach(() => {
  ({ home, cleanup } = tempHome('atelier-snapshots-'));
  library = openLibrary(home);
});
afterEach(() => {
  library.close();
  cleanup();
});

async function png(seed: number, size = 32): Promise<Buffer> {
  const data = Buffer.alloc(size * size * 4);
  // Noise (an LCG), so the PNG does not compress away: a layer of real size.
  let x = seed * 2654435761;
  for (let i = 0; i < data.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return sharp(data, { raw: { width: size, height: size, channels: 4 } }).png().toBuffer();
}

async function generation(seed = 1): Promise<string> {
  const request = GenerationRequest.parse({ model: 'starter', prompt: 'a red house', seed });
  const record = await library.recordGeneration({ request, candidates: [{ index: 0, seed, image: { width: 8, height: 8, data: new Uint8Array(256).fill(seed) } }] });
  return record.id;
}

/** A document with a sketch (`strokes` strokes), a paint layer and a mask, as the studio has it. */
function snapshotOf(strokes: number): DocumentSnapshot {
  const doc = createDocument({ width: 64, height: 64 });
  const sketch = createLayer('sketch', { strokes: Array.from({ length: strokes }, (_, i) => ({ id: `s${i}`, tool: 'pen' as const, colour: '#000000', width: 4, points: [i, i, 0.5, i + 10, i + 5, 0.5] })) });
  const paint = createLayer('paint', { image: { part: 'parts/paint1.png' }, x: 0, y: 0, width: 32, height: 32 });
  const mask = createLayer('mask', { image: { part: 'parts/mask1.png' }, x: 0, y: 0, width: 32, height: 32, colour: '#ff3366' });
  // Fixed ids: the same document must give the same snapshot.
  return { canvas: doc.canvas, layers: [{ ...sketch, id: 'sketch' }, { ...paint, id: 'paint' }, { ...mask, id: 'mask' }], frame: { x: 0, y: 0 } };
}

const count = (table: string) => (library.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

describe('document snapshots', () => {
  it('keeps the document a generation ran from and gives it back', async () => {
    const g = await generation();
    const snapshot = snapshotOf(3);
    const stored = await library.putSnapshot(g, snapshot, { 'parts/paint1.png': await png(1), 'parts/mask1.png': await png(2), 'parts/unused.png': await png(3) });
    expect(stored.newImages).toBe(2);
    expect(Object.keys(stored.parts).sort()).toEqual(['parts/mask1.png', 'parts/paint1.png']);
    const back = library.snapshot(g);
    expect(back).toEqual({ sha256: stored.sha256, parts: stored.parts, snapshot });
    // A candidate's id finds its generation's snapshot too.
    expect(library.snapshot(library.get(g).candidates[0]!.id)?.sha256).toBe(stored.sha256);
    expect(fs.readFileSync(library.imagePath(stored.parts['parts/paint1.png']!)).equals(await png(1))).toBe(true);
  });

  it('a 50-generation session stores an unchanged layer once, and an unchanged document once', async () => {
    const paint = await png(1, 128);
    const mask = await png(2, 128);
    const same = snapshotOf(40);
    const shas = new Set<string>();
    let snapshotBytes = 0;
    for (let i = 0; i < 50; i++) {
      const g = await generation(i);
      // The worst case: the bytes sent again every time (the studio sends a hash once the library has them).
      const stored = await library.putSnapshot(g, i % 2 === 0 ? same : snapshotOf(40 + i), { 'parts/paint1.png': paint, 'parts/mask1.png': mask });
      shas.add(stored.sha256);
      snapshotBytes += stored.bytes;
    }
    // 50 candidates + the two layer images; 26 distinct documents (25 changed sketches + the unchanged one).
    expect(count('images')).toBe(50 + 2);
    expect(shas.size).toBe(26);
    expect(count('snapshots')).toBe(26);
    expect(count('snapshot_images')).toBe(26 * 2);
    // The sketch's vector strokes are the only per-generation cost: gzipped JSON, no pixels.
    expect(snapshotBytes / 50).toBeLessThan(2_000);
    expect(paint.length).toBeGreaterThan(50_000);
  });

  it('names known images by hash, refuses unknown hashes, missing parts and bad PNGs', async () => {
    const g = await generation();
    const first = await library.putSnapshot(g, snapshotOf(1), { 'parts/paint1.png': await png(1), 'parts/mask1.png': await png(2) });
    const byHash = { 'parts/paint1.png': { sha256: first.parts['parts/paint1.png']! }, 'parts/mask1.png': { sha256: first.parts['parts/mask1.png']! } };
    const again = await library.putSnapshot(await generation(2), snapshotOf(2), byHash);
    expect(again.newImages).toBe(0);
    expect(again.parts).toEqual(first.parts);
    await expect(library.putSnapshot(g, snapshotOf(1), { ...byHash, 'parts/mask1.png': { sha256: 'a'.repeat(64) } })).rejects.toMatchObject({ code: 'not_found' });
    await expect(library.putSnapshot(g, snapshotOf(1), { 'parts/paint1.png': await png(1) })).rejects.toMatchObject({ code: 'bad_request', message: /parts\/mask1\.png/ });
    await expect(library.putSnapshot(g, snapshotOf(1), { ...byHash, 'parts/mask1.png': Buffer.from('not a png') })).rejects.toMatchObject({ code: 'invalid_file' });
    await expect(library.putSnapshot('g_nope', snapshotOf(1), byHash)).rejects.toMatchObject({ code: 'not_found' });
    expect(library.snapshot(await generation(3))).toBeNull();
  });

  it('orphan collection keeps images a snapshot refers to; deleting the last generation frees them', async () => {
    const a = await generation(1);
    const b = await generation(2);
    const parts = { 'parts/paint1.png': await png(1), 'parts/mask1.png': await png(2) };
    const stored = await library.putSnapshot(a, snapshotOf(1), parts);
    await library.putSnapshot(b, snapshotOf(1), parts);
    const layerShas = Object.values(stored.parts);
    // Backdate, so the grace period does not hide what gc would do.
    library.db.prepare('UPDATE images SET created_at = 0').run();
    library.db.prepare('UPDATE snapshots SET created_at = 0').run();
    const gc = library.collectOrphans({ graceMs: 0 });
    expect(gc.rows).toBe(0);
    for (const sha of layerShas) expect(fs.existsSync(library.imagePath(sha))).toBe(true);
    expect(library.checkConsistency()).toEqual([]);

    // Shared by b: deleting a keeps the snapshot and its images.
    library.delete([a]);
    expect(library.snapshot(b)?.sha256).toBe(stored.sha256);
    for (const sha of layerShas) expect(library.hasImage(sha)).toBe(true);
    // The last one: the snapshot and its layer images go with it.
    const deleted = library.delete([b]);
    expect(deleted.files).toBe(2 + 2 * layerShas.length);
    expect(count('snapshots')).toBe(0);
    for (const sha of layerShas) expect(fs.existsSync(library.imagePath(sha))).toBe(false);
  });

  it('gc collects a snapshot no generation points to, and then its images', async () => {
    const g = await generation(1);
    const stored = await library.putSnapshot(g, snapshotOf(1), { 'parts/paint1.png': await png(1), 'parts/mask1.png': await png(2) });
    library.db.prepare('UPDATE generations SET snapshot_sha256 = NULL').run();
    library.db.prepare('UPDATE images SET created_at = 0').run();
    library.db.prepare('UPDATE snapshots SET created_at = 0').run();
    const gc = library.collectOrphans({ graceMs: 0 });
    expect(gc.rows).toBe(2);
    expect(count('snapshots')).toBe(0);
    for (const sha of Object.values(stored.parts)) expect(fs.existsSync(library.imagePath(sha))).toBe(false);
  });

  it('travels through the StudioApi with PNG data URLs and hashes', async () => {
    const service = new StudioService({ transport: 'web', home });
    service.register(libraryHandlers(library, { currentModelHash: () => undefined }));
    const call = (method: string, params: unknown) => service.handle({ v: API_VERSION, method, params });
    const g = await generation();
    const put = await call('library.putSnapshot', { generationId: g, snapshot: snapshotOf(2), parts: { 'parts/paint1.png': pngToDataUrl(await png(1)), 'parts/mask1.png': pngToDataUrl(await png(2)) } });
    expect(put).toMatchObject({ ok: true, result: { newImages: 2 } });
    const got = await call('library.snapshot', { id: g });
    expect(got).toMatchObject({ ok: true, result: { snapshot: { layers: [{ kind: 'sketch' }, { kind: 'paint' }, { kind: 'mask' }] } } });
    expect(await call('library.putSnapshot', { generationId: g, snapshot: { ...snapshotOf(2), layers: 'no' }, parts: {} })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
  });
});
