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
