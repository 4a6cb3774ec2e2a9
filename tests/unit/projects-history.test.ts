import { describe, expect, it } from 'vitest';
import type { ProjectDocument, SketchLayer } from '../../app/contract/projects.js';
import {
  History,
  addCandidates,
  addGeneration,
  addLayer,
  addStroke,
  applyPatch,
  createDocument,
  createLayer,
  deepEqual,
  diff,
  extendStroke,
  invert,
  moveLayer,
  removeLayer,
  setLayerProperties,
  updateLayer,
} from '../../app/projects/document/index.js';
import { buildSampleProject, sha, stubPng } from '../fixtures/projects/sample-document.js';

function blank(): ProjectDocument {
  let doc = createDocument({ id: 'p', width: 64, height: 64, createdAt: 't' });
  doc = addLayer(doc, createLayer('sketch', { id: 'a', name: 'A', strokes: [] }));
  doc = addLayer(doc, createLayer('sketch', { id: 'b', name: 'B', strokes: [] }));
  return doc;
}

const strokes = (doc: ProjectDocument, id: string) => (doc.layers.find((l) => l.id === id) as SketchLayer).strokes;

describe('diffs', () => {
  it('undo(diff(a, b)) applied to b gives back a, for every edit of the sample', () => {
    const { document: a } = buildSampleProject(stubPng);
    const edits: Array<(d: ProjectDocument) => ProjectDocument> = [
      (d) => moveLayer(d, 'ref', d.layers.length - 1),
      (d) => removeLayer(d, 'sketch'),
      (d) => setLayerProperties(d, 'mask', { visible: false, name: 'Sky' }),
      (d) => updateLayer(d, 'ctl-depth', 'control', { weight: 0.4, model: 'cn-depth' }),
      (d) => addLayer(moveLayer(removeLayer(d, 'paint'), 'gen', 0), createLayer('sketch', { id: 'new', strokes: [] }), 2),
      (d) => ({ ...d, settings: { ...d.settings, width: 768 } }),
      (d) => ({ ...d, settings: { ...d.settings, negativePrompt: undefined as unknown as string } }),
    ];
    for (const edit of edits) {
      const b = edit(a);
      const patch = diff(a, b);
      expect(patch.length).toBeGreaterThan(0);
      expect(deepEqual(applyPatch(a, patch), b)).toBe(true);
      expect(deepEqual(applyPatch(b, invert(patch)), a)).toBe(true);
      expect(diff(a, structuredClone(a))).toEqual([]);
    }
  });

  it('addresses keyed items by id, so undo lands on the right layer after others moved', () => {
    const a = blank();
    const b = setLayerProperties(a, 'b', { opacity: 0.5 });
    const patch = diff(a, b);
    expect(patch).toEqual([{ op: 'set', path: ['layers', { id: 'b' }, 'opacity'], before: 1, after: 0.5 }]);
    const shifted = addLayer(b, createLayer('sketch', { id: 'c', strokes: [] }), 0);
    const undone = applyPatch(shifted, invert(patch));
    expect(undone.layers.map((l) => [l.id, l.opacity])).toEqual([['c', 1], ['a', 1], ['b', 1]]);
  });
});

describe('History', () => {
  it('one change is one undo step; undo and redo restore exactly', () => {
    const h = new History(blank());
    const start = h.document;
    h.change((d) => setLayerProperties(d, 'a', { visible: false }), 'Hide layer');
    h.change((d) => moveLayer(d, 'a', 1), 'Move layer');
    const end = h.document;
    expect(h.undoLabel).toBe('Move layer');
    expect(h.undo()).toBe(true);
    expect(h.document.layers.map((l) => l.id)).toEqual(['a', 'b']);
    expect(h.undo()).toBe(true);
    expect(deepEqual(h.document, start)).toBe(true);
    expect(h.undo()).toBe(false);
    h.redo();
    h.redo();
    expect(deepEqual(h.document, end)).toBe(true);
    expect(h.canRedo).toBe(false);
  });

  it('a whole drag (gesture) undoes at once', () => {
    const h = new History(blank());
    h.beginGesture('Draw');
    h.change((d) => addStroke(d, 'a', { id: 's', tool: 'pen', colour: '#000000', width: 2, points: [0, 0, 0.5] }));
    for (let i = 1; i <= 50; i++) h.change((d) => extendStroke(d, 'a', 's', [i, i, 0.5]));
    expect(h.canUndo).toBe(true);
    h.endGesture();
    expect(strokes(h.document, 'a')[0]!.points).toHaveLength(153);
    h.undo();
    expect(strokes(h.document, 'a')).toEqual([]);
    expect(h.canUndo).toBe(false);
    h.redo();
    expect(strokes(h.document, 'a')[0]!.points).toHaveLength(153);
  });

  it('cancelling a gesture returns to where it started with no step', () => {
    const h = new History(blank());
    const start = h.document;
    h.beginGesture('Opacity');
    h.change((d) => setLayerProperties(d, 'a', { opacity: 0.1 }));
    h.change((d) => setLayerProperties(d, 'a', { opacity: 0.2 }));
    h.cancelGesture();
    expect(deepEqual(h.document, start)).toBe(true);
    expect(h.canUndo).toBe(false);
  });

  it('loading a file is not an undo step and clears the stacks', () => {
    const h = new History(blank());
    h.change((d) => setLayerProperties(d, 'a', { name: 'renamed' }));
    const { document } = buildSampleProject(stubPng);
    h.load(document);
    expect(h.document).toBe(document);
    expect(h.canUndo).toBe(false);
    expect(h.canRedo).toBe(false);
    expect(h.dirty).toBe(false);
  });

  it('receiving candidates is not an undo step, marks dirty, and undo of earlier edits still works', () => {
    const h = new History(blank());
    h.change((d) => setLayerProperties(d, 'b', { opacity: 0.5 }), 'Opacity');
    h.applyRemote((d) => addGeneration(d, { id: 'g', createdAt: 't', mode: 'txt2img', request: {}, parentCandidateId: null, maskLayerId: null, maskSnapshot: null, candidates: [] }));
    h.applyRemote((d) => addCandidates(d, 'g', [{ id: 'c', index: 0, seed: 1, sha256: sha(1), width: 64, height: 64, image: null, favourite: false }]));
    expect(h.undoLabel).toBe('Opacity');
    h.undo();
    expect(h.document.layers.find((l) => l.id === 'b')!.opacity).toBe(1);
    expect(h.document.generations[0]!.candidates.map((c) => c.id)).toEqual(['c']);
    expect(h.canUndo).toBe(false);
    expect(h.dirty).toBe(true);
  });

  it('a remote change during a gesture stays out of the gesture step', () => {
    const h = new History(blank());
    h.beginGesture('Drag');
    h.change((d) => setLayerProperties(d, 'a', { opacity: 0.3 }));
    h.applyRemote((d) => addGeneration(d, { id: 'g', createdAt: 't', mode: 'txt2img', request: {}, parentCandidateId: null, maskLayerId: null, maskSnapshot: null, candidates: [] }));
    h.change((d) => setLayerProperties(d, 'a', { opacity: 0.4 }));
    h.endGesture();
    h.undo();
    expect(h.document.layers[0]!.opacity).toBe(1);
    expect(h.document.generations).toHaveLength(1);
  });

  it('redo survives selection-only changes; a new edit clears it', () => {
    const h = new History(blank());
    h.change((d) => setLayerProperties(d, 'a', { locked: true }));
    h.undo();
    h.select(['b']);
    h.select(['a', 'b', 'ghost']);
    expect(h.selection).toEqual(['a', 'b']);
    expect(h.canRedo).toBe(true);
    h.redo();
    expect(h.document.layers[0]!.locked).toBe(true);
    h.undo();
    h.change((d) => setLayerProperties(d, 'b', { name: 'x' }));
    expect(h.canRedo).toBe(false);
  });

  it('a no-op change adds no step and keeps redo; a refused change changes nothing', () => {
    const h = new History(blank());
    h.change((d) => setLayerProperties(d, 'a', { name: 'x' }));
    h.undo();
    h.change((d) => setLayerProperties(d, 'a', { name: 'A' }));
    expect(h.canRedo).toBe(true);
    const before = h.document;
    expect(() => h.change((d) => updateLayer(setLayerProperties(d, 'a', { locked: true }), 'a', 'sketch', { strokes: [] }))).toThrow(/locked/);
    expect(h.document).toBe(before);
  });

  it('undo drops a removed layer from the selection; dirty follows saves', () => {
    const h = new History(blank());
    expect(h.dirty).toBe(false);
    h.change((d) => addLayer(d, createLayer('mask', { id: 'm', image: { part: 'parts/m.png' }, x: 0, y: 0, width: 64, height: 64, colour: '#ff0000' })));
    h.select(['m']);
    expect(h.dirty).toBe(true);
    h.markSaved();
    expect(h.dirty).toBe(false);
    h.undo();
    expect(h.selection).toEqual([]);
    expect(h.dirty).toBe(true);
    h.redo();
    expect(h.dirty).toBe(false);
  });

  it('notifies subscribers and caps the undo stack', () => {
    const h = new History(blank(), { limit: 3 });
    let calls = 0;
    const off = h.subscribe(() => calls++);
    for (let i = 0; i < 5; i++) h.change((d) => setLayerProperties(d, 'a', { opacity: i / 10 }));
    off();
    h.select([]);
    expect(calls).toBe(5);
    let undone = 0;
    while (h.undo()) undone++;
    expect(undone).toBe(3);
    expect(h.document.layers[0]!.opacity).toBe(0.1);
  });
});
