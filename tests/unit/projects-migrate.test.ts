import { describe, expect, it } from 'vitest';
import { PROJECT_SCHEMA_VERSION } from '../../app/contract/projects.js';
import { DocumentError, restoreDocument } from '../../app/projects/document/index.js';
import { buildSampleProject, stubPng } from '../fixtures/projects/sample-document.js';

const v0 = {
  id: 'old1',
  title: 'Preview sketch',
  size: { w: 512, h: 384 },
  created: '2026-01-02T03:04:05.000Z',
  prompt: 'a lighthouse',
  negative: 'blurry',
  layers: [
    { type: 'image', id: 'bg', name: 'Background', src: 'parts/bg.png' },
    { type: 'sketch', id: 'sk', name: 'Lines', hidden: true, opacity: 40, strokes: [{ id: 's1', color: '#112233', size: 4, points: [{ x: 1, y: 2, p: 0.25 }, { x: 3, y: 4 }] }] },
    { type: 'mask', id: 'mk', name: 'Sea', src: 'parts/mk.png' },
  ],
};

describe('document migration', () => {
  it('brings a version-0 document forward field by field', () => {
    const doc = restoreDocument(v0);
    expect(doc.schemaVersion).toBe(PROJECT_SCHEMA_VERSION);
    expect(doc).toMatchObject({ id: 'old1', name: 'Preview sketch', canvas: { width: 512, height: 384 }, createdAt: '2026-01-02T03:04:05.000Z', generations: [] });
    expect(doc.settings).toMatchObject({ prompt: 'a lighthouse', negativePrompt: 'blurry', width: 512, height: 384, steps: 20 });
    expect(doc.layers.map((l) => [l.kind, l.id, l.visible, l.opacity])).toEqual([
      ['paint', 'bg', true, 1],
      ['sketch', 'sk', false, 0.4],
      ['mask', 'mk', true, 0.5],
    ]);
    expect(doc.layers[1]).toMatchObject({ strokes: [{ id: 's1', tool: 'pen', colour: '#112233', width: 4, points: [1, 2, 0.25, 3, 4, 0.5] }] });
    expect(doc.layers[0]).toMatchObject({ image: { part: 'parts/bg.png' }, x: 0, y: 0, width: 512, height: 384 });
  });

  it('brings a version-1 document forward: seed policy from randomSeed, a generation size always', () => {
    const { document } = buildSampleProject(stubPng, 640, 480);
    const { seedPolicy: _policy, ...settings } = document.settings;
    const v1 = { ...JSON.parse(JSON.stringify(document)), schemaVersion: 1, settings: { ...settings, randomSeed: false } };
    const doc = restoreDocument(v1);
    expect(doc.schemaVersion).toBe(2);
    expect(doc.settings).toEqual({ ...document.settings, seedPolicy: 'fixed' });
    expect(restoreDocument({ ...v1, settings: { ...settings, randomSeed: true } }).settings.seedPolicy).toBe('random');
    expect(restoreDocument({ ...v1, settings: { prompt: 'x' } }).settings.seedPolicy).toBe('random');
    // v1 left the size out when the canvas was not a size a model makes: the canvas where it is, else 512.
    const { width: _w, height: _h, ...sizeless } = settings;
    expect(restoreDocument({ ...v1, settings: sizeless }).settings).toMatchObject({ width: 640, height: 480 });
    expect(restoreDocument({ ...v1, canvas: { ...v1.canvas, width: 500 }, settings: sizeless }).settings).toMatchObject({ width: 512, height: 512 });
    // Candidate copies stay parts: their bytes were re-encoded and do not hash to the candidate's sha256.
    expect(doc.generations[0]!.candidates[0]!.image).toEqual({ part: 'parts/c0a.png' });
    expect(doc.layers.find((l) => l.id === 'gen')).toMatchObject({ image: { part: 'parts/c2a.png' } });
  });

  it('refuses a version-1 document whose settings are not an object', () => {
    const { document } = buildSampleProject(stubPng);
    expect(() => restoreDocument({ ...document, schemaVersion: 1, settings: 'fast' })).toThrow(/version-1/);
  });

  it('accepts library images by content hash and nothing that only looks like one', () => {
    const { document } = buildSampleProject(stubPng);
    const byHash = { sha256: 'ab'.repeat(32) };
    const doc = { ...document, layers: document.layers.map((l) => (l.kind === 'generated' ? { ...l, image: byHash } : l)) };
    expect(restoreDocument(doc).layers.find((l) => l.id === 'gen')).toMatchObject({ image: byHash });
    for (const image of [{ sha256: 'AB'.repeat(32) }, { sha256: '../x' }, { sha256: 'ab'.repeat(32), part: 'parts/x.png' }]) {
      const bad = { ...document, layers: document.layers.map((l) => (l.kind === 'generated' ? { ...l, image } : l)) };
      expect(() => restoreDocument(bad)).toThrow(DocumentError);
    }
    // Only candidates and generated layers name library images; painted pixels are parts.
    const paint = { ...document, layers: document.layers.map((l) => (l.kind === 'paint' ? { ...l, image: byHash } : l)) };
    expect(() => restoreDocument(paint)).toThrow(DocumentError);
  });

  it('passes a current document through unchanged', () => {
    const { document } = buildSampleProject(stubPng);
    expect(restoreDocument(JSON.parse(JSON.stringify(document)))).toEqual(document);
  });

  it.each([
    ['not an object', [], /JSON object/],
    ['a newer schema', { schemaVersion: 99 }, /newer Atelier/],
    ['a nonsense version', { schemaVersion: 'one' }, /Unknown project schema version/],
    ['a broken v0', { ...v0, size: { w: 'big' } }, /version-0/],
    ['a v0 image escaping parts/', { ...v0, layers: [{ type: 'image', id: 'x', name: 'x', src: '../../etc/passwd' }] }, /invalid/],
    ['a v1 with an unknown layer kind', { ...buildSampleProject(stubPng).document, layers: [{ kind: 'video', id: 'v' }] }, /invalid/],
  ])('refuses %s with a DocumentError', (_name, raw, message) => {
    expect(() => restoreDocument(raw)).toThrow(DocumentError);
    expect(() => restoreDocument(raw)).toThrow(message);
  });
});
