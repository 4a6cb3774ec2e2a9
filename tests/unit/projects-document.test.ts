import { describe, expect, it } from 'vitest';
import { LAYER_KINDS, ProjectDocument } from '../../app/contract/projects.js';
import {
  DocumentError,
  History,
  addLayer,
  addStroke,
  base64Decode,
  base64Encode,
  createControlLayer,
  createDocument,
  createLayer,
  dataUrlToPng,
  extendStroke,
  iterationTree,
  lineage,
  moveLayer,
  placeCandidate,
  pngToDataUrl,
  referencedEntries,
  referencedImages,
  referencedParts,
  removeLayer,
  sourceKey,
  restoreDocument,
  setCannyThresholds,
  setLayerImage,
  setLayerProperties,
  updateLayer,
  updateSettings,
} from '../../app/projects/document/index.js';
import { buildSampleProject, stubPng } from '../fixtures/projects/sample-document.js';

describe('project document', () => {
  const { document: sample, assets } = buildSampleProject(stubPng);

  it('holds every layer kind and validates against the contract schema', () => {
    expect(new Set(sample.layers.map((l) => l.kind))).toEqual(new Set(LAYER_KINDS));
    expect(ProjectDocument.parse(sample)).toEqual(sample);
  });

  it('keeps raster bytes beside the document, one asset per referenced part', () => {
    const parts = referencedParts(sample);
    expect([...parts].sort()).toEqual(Object.keys(assets).sort());
    expect(JSON.stringify(sample)).not.toContain('base64');
  });

  it('names library images by hash apart from parts: the UI holds parts, a save writes both', () => {
    const byHash = { sha256: 'ab'.repeat(32) };
    const doc = {
      ...sample,
      layers: sample.layers.map((l) => (l.kind === 'generated' ? { ...l, image: byHash } : l)),
      generations: sample.generations.map((g) => (g.id === 'g2' ? { ...g, candidates: g.candidates.map((c) => ({ ...c, image: byHash })) } : g)),
    };
    expect(ProjectDocument.parse(doc)).toEqual(doc);
    expect([...referencedImages(doc)]).toEqual([byHash.sha256]);
    expect(referencedParts(doc).has('parts/c2a.png')).toBe(false);
    expect(referencedParts(doc).has('parts/c0a.png')).toBe(true);
    expect(referencedEntries(doc)).toEqual(new Set([...referencedParts(doc), `images/${byHash.sha256}.png`]));
    expect(sourceKey(byHash)).toBe(`images/${byHash.sha256}.png`);
    expect(sourceKey({ part: 'parts/x.png' })).toBe('parts/x.png');
    expect(() => sourceKey({ sha256: '../../etc/passwd' })).toThrow(/SHA-256/);
    // placeCandidate puts the candidate's own source on the canvas: no copy of the pixels.
    expect(placeCandidate(doc, 'c2a', 'again').layers.at(-1)).toMatchObject({ image: byHash, candidateId: 'c2a' });
  });

  it('builds the iteration tree: txt2img → img2img of c0b → inpaint of c1a with its mask snapshot', () => {
    const [root, ...others] = iterationTree(sample);
    expect(others).toHaveLength(0);
    expect(root!.generation.id).toBe('g0');
    const c0b = root!.candidates.find((c) => c.candidate.id === 'c0b')!;
    expect(root!.candidates.find((c) => c.candidate.id === 'c0a')!.refinements).toEqual([]);
    expect(c0b.refinements.map((g) => g.generation.id)).toEqual(['g1']);
    const g2 = c0b.refinements[0]!.candidates[0]!.refinements[0]!.generation;
    expect(g2).toMatchObject({ id: 'g2', mode: 'inpaint', maskLayerId: 'mask', maskSnapshot: { part: 'parts/g2-mask.png' } });
    expect(lineage(sample, 'c2a').map((g) => g.id)).toEqual(['g0', 'g1', 'g2']);
    expect(lineage(sample, 'nope')).toEqual([]);
  });

  it('orders layers bottom first and moves them', () => {
    const ids = sample.layers.map((l) => l.id);
    const moved = moveLayer(sample, 'ref', ids.length - 1);
    expect(moved.layers.at(-1)!.id).toBe('ref');
    expect(moved.layers.slice(0, -1).map((l) => l.id)).toEqual(ids.filter((id) => id !== 'ref'));
    expect(() => moveLayer(sample, 'ref', ids.length)).toThrow(DocumentError);
  });

  it('leaves unchanged layers identical (the renderer skips them)', () => {
    const next = setLayerProperties(sample, 'sketch', { opacity: 0.3 });
    next.layers.forEach((layer, i) => {
      if (layer.id === 'sketch') expect(layer).not.toBe(sample.layers[i]);
      else expect(layer).toBe(sample.layers[i]);
    });
    expect(sample.layers.find((l) => l.id === 'sketch')!.opacity).toBe(1);
  });

  it('refuses content edits on a locked layer but allows visibility, opacity and unlocking', () => {
    expect(() => setLayerImage(sample, 'mask', { part: 'parts/other.png' })).toThrow(/locked/);
    const hidden = setLayerProperties(sample, 'mask', { visible: false, opacity: 0.2 });
    expect(hidden.layers.find((l) => l.id === 'mask')).toMatchObject({ visible: false, opacity: 0.2 });
    const unlocked = setLayerProperties(sample, 'mask', { locked: false });
    expect(setLayerImage(unlocked, 'mask', { part: 'parts/other.png' }).layers.find((l) => l.id === 'mask')).toMatchObject({ image: { part: 'parts/other.png' } });
  });

  it('gives clear errors for bad input instead of correcting it', () => {
    expect(() => setLayerProperties(sample, 'sketch', { opacity: 1.5 })).toThrow(/Opacity 1.5/);
    expect(() => addStroke(sample, 'sketch', { id: 'x', tool: 'pen', colour: '#000000', width: 1, points: [1, 2] })).toThrow(/triples/);
    expect(() => addStroke(sample, 'paint', { id: 'x', tool: 'pen', colour: '#000000', width: 1, points: [] })).toThrow(/paint layer, not sketch/);
    expect(() => addLayer(sample, createLayer('sketch', { id: 'sketch', strokes: [] }))).toThrow(/already exists/);
    expect(() => updateLayer(sample, 'ctl-depth', 'control', { start: 0.9, end: 0.2 })).toThrow(/start must not exceed end/);
    expect(() => updateSettings(sample, { steps: 0 })).toThrow(/steps/);
    expect(() => placeCandidate(sample, 'nope')).toThrow(/No candidate/);
  });

  it('extends a stroke while drawing', () => {
    const next = extendStroke(sample, 'sketch', 's2', [6, 6, 0.6, 7, 7, 0.7]);
    const stroke = (next.layers.find((l) => l.id === 'sketch') as { strokes: { id: string; points: number[] }[] }).strokes.find((s) => s.id === 's2')!;
    expect(stroke.points).toEqual([5, 5, 0.5, 6, 6, 0.6, 7, 7, 0.7]);
  });

  it('removes control layers that rendered a removed layer', () => {
    const next = removeLayer(sample, 'sketch');
    expect(next.layers.map((l) => l.id)).not.toContain('ctl-sketch');
    expect(next.layers.map((l) => l.id)).toContain('ctl-depth');
  });

  it('refuses a document with duplicate ids or a dangling refinement', () => {
    const dup = { ...sample, layers: [...sample.layers, sample.layers[0]] };
    expect(ProjectDocument.safeParse(dup).success).toBe(false);
    const dangling = { ...sample, generations: [{ ...sample.generations[1]!, parentCandidateId: 'ghost' }] };
    expect(ProjectDocument.safeParse(dangling).error?.issues.map((i) => i.message)).toContain('generation "g1" refines unknown candidate "ghost"');
  });

  it('keeps a control layer\'s Canny thresholds in the document, validated, defaulting to 100/200', () => {
    const canny = addLayer(sample, createControlLayer({ id: 'ctl-canny', name: 'Canny', controlType: 'canny', sourceLayerId: 'paint' }));
    const added = canny.layers.find((l) => l.id === 'ctl-canny');
    expect(added).toMatchObject({ preprocess: 'canny', cannyLow: 100, cannyHigh: 200 });
    const next = setCannyThresholds(canny, 'ctl-canny', 40, 120);
    expect(next.layers.find((l) => l.id === 'ctl-canny')).toMatchObject({ cannyLow: 40, cannyHigh: 120 });
    expect(canny.layers.find((l) => l.id === 'ctl-canny')).toMatchObject({ cannyLow: 100, cannyHigh: 200 });
    expect(ProjectDocument.parse(next)).toEqual(next);
    expect(() => setCannyThresholds(canny, 'ctl-canny', 150, 120)).toThrow(/low threshold 150 exceeds the high threshold 120/);
    expect(() => setCannyThresholds(canny, 'ctl-canny', 0, 300)).toThrow(/high threshold 300 is outside 0..255/);
    expect(() => setCannyThresholds(canny, 'sketch', 10, 20)).toThrow(/sketch layer, not control/);
    // A document written before the thresholds existed opens unchanged, with the engine's defaults.
    const older = JSON.parse(JSON.stringify(next)) as { layers: Record<string, unknown>[] };
    for (const layer of older.layers) {
      delete layer.cannyLow;
      delete layer.cannyHigh;
    }
    expect(restoreDocument(older).layers.find((l) => l.id === 'ctl-canny')).toMatchObject({ cannyLow: 100, cannyHigh: 200 });
  });

  it('undoes a threshold change like any other edit', () => {
    const history = new History(addLayer(sample, createControlLayer({ id: 'ctl-canny', name: 'Canny', controlType: 'canny', sourceLayerId: 'paint' })));
    history.change((doc) => setCannyThresholds(doc, 'ctl-canny', 30, 90), 'Canny thresholds');
    expect(history.document.layers.find((l) => l.id === 'ctl-canny')).toMatchObject({ cannyLow: 30, cannyHigh: 90 });
    history.undo();
    expect(history.document.layers.find((l) => l.id === 'ctl-canny')).toMatchObject({ cannyLow: 100, cannyHigh: 200 });
    history.redo();
    expect(history.document.layers.find((l) => l.id === 'ctl-canny')).toMatchObject({ cannyLow: 30, cannyHigh: 90 });
  });

  it('settings carry GenerationRequest defaults and limits', () => {
    const doc = createDocument({ width: 512, height: 512, id: 'p1' });
    expect(doc.settings).toMatchObject({ model: 'starter', sampler: 'euler_a', steps: 20, cfg: 7, width: 512, height: 512, batch: 1 });
    expect(updateSettings(doc, { cfg: 4.5, batch: 4 }).settings).toMatchObject({ cfg: 4.5, batch: 4 });
  });
});

describe('PNG data URLs', () => {
  it('round-trips bytes through base64 exactly like RFC 4648', () => {
    for (const n of [0, 1, 2, 3, 4, 5, 100, 12289]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
      const text = base64Encode(bytes);
      expect(text).toBe(Buffer.from(bytes).toString('base64'));
      expect(base64Decode(text)).toEqual(bytes);
    }
  });

  it('accepts PNGs only', () => {
    const png = stubPng('x', 1, 1);
    expect(dataUrlToPng(pngToDataUrl(png))).toEqual(png);
    expect(() => pngToDataUrl(new Uint8Array([1, 2, 3]))).toThrow(/Not a PNG/);
    expect(() => dataUrlToPng('data:image/jpeg;base64,AAAA')).toThrow(/Not a PNG data URL/);
    expect(() => base64Decode('ab$=')).toThrow(/invalid base64/);
  });
});
