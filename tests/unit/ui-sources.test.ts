import { describe, expect, it } from 'vitest';
import type { ModelEntry } from '../../app/contract/index.js';
import { type Layer, type ProjectDocument, addLayer, createControlLayer, createDocument, createLayer } from '../../app/projects/document/index.js';
import { canvasInFrame, frameOutside, growToInclude } from '../../renderer/src/canvas/outpaint.js';
import { controlSourceLayers, controlWarning, controlnetTakes, frameHasPicture, hasMarks, pictureLayers, resolveMode } from '../../renderer/src/canvas/sources.js';

// What a generation reads from the canvas, decided without pixels.

const raster = { x: 0, y: 0, width: 256, height: 256 };
const docWith = (...layers: Layer[]): ProjectDocument => layers.reduce((d, l) => addLayer(d, l), createDocument({ width: 256, height: 256 }));

function model(over: Partial<ModelEntry> & { controlnets?: string[]; acceptsControlnet?: boolean } = {}): ModelEntry {
  const { controlnets = ['/models/starter/controlnet'], acceptsControlnet = true, ...rest } = over;
  return {
    id: 'starter',
    name: 'Starter',
    path: '/models/starter',
    builtIn: true,
    valid: true,
    info: {
      path: '/models/starter',
      family: 'sd1',
      prediction: 'epsilon',
      unetInChannels: 4,
      inpainting: false,
      lcm: false,
      acceptsControlnet,
      textEmbedDim: 256,
      defaultWidth: 256,
      defaultHeight: 256,
      sizeMultiple: 64,
      dtype: 'float32',
      components: {},
      controlnets,
      // As the engine reads it from the starter's controlnet/config.json ("conditioning").
      controlnetTypes: Object.fromEntries(controlnets.map((c) => [c, 'scribble' as const])),
      notes: [],
    },
    ...rest,
  };
}

describe('every mark guides', () => {
  const sketch = createLayer('sketch', { id: 'sk', strokes: [{ id: 's1', tool: 'brush', colour: '#000000', width: 4, points: [0, 0, 0.5, 9, 9, 0.5] }] });
  const shapes = createLayer('shapes', { id: 'sh', shapes: [{ type: 'line', id: 'h1', stroke: '#000000', strokeWidth: 4, fill: null, x1: 0, y1: 100, x2: 256, y2: 100 }] });
  const hiddenShapes = createLayer('shapes', { id: 'sh2', visible: false, shapes: [] });
  const picture = createLayer('generated', { id: 'gen', image: { part: 'parts/a.png' }, ...raster, generationId: 'g', candidateId: 'c' });
  const scribble = createControlLayer({ id: 'ct', controlType: 'scribble', sourceLayerId: 'sk' });

  it('a scribble of the sketch reads every visible sketch and shapes layer, in order', () => {
    const doc = docWith(sketch, picture, shapes, hiddenShapes, scribble);
    expect(controlSourceLayers(doc, scribble).map((l) => l.id)).toEqual(['sk', 'sh']);
    expect(hasMarks([createLayer('sketch', { strokes: [] })])).toBe(false);
    expect(hasMarks([createLayer('sketch', { strokes: [] }), shapes])).toBe(true);
  });

  it('a control of a picture reads that picture alone', () => {
    const canny = createControlLayer({ id: 'cn', controlType: 'canny', sourceLayerId: 'gen', preprocess: 'canny' });
    expect(controlSourceLayers(docWith(sketch, picture, canny), canny).map((l) => l.id)).toEqual(['gen']);
  });

  it('takes what a ControlNet takes from the engine (ModelInfo.controlnetTypes), and says when a control does not fit', () => {
    const starter = model();
    expect(controlnetTakes('/models/starter/controlnet', starter)).toBe('scribble');
    expect(controlnetTakes('/models/starter/controlnet/', starter)).toBe('scribble');
    // No guessing from folder names in the studio: a ControlNet the model does not report is unknown.
    expect(controlnetTakes('/cn/control_v11p_sd15_canny', starter)).toBeNull();
    expect(controlnetTakes('/cn/my-net', undefined)).toBeNull();
    const canny = createControlLayer({ id: 'cn', name: 'Canny control', controlType: 'canny', sourceLayerId: 'gen', preprocess: 'canny' });
    expect(controlWarning(canny, starter)).toMatch(/takes scribble maps, not canny/);
    expect(controlWarning(scribble, starter)).toBeNull();
    // A layer's own ControlNet that the model does not report is sent as set.
    expect(controlWarning({ ...canny, model: '/cn/control_v11p_sd15_canny' }, starter)).toBeNull();
    expect(controlWarning(scribble, model({ acceptsControlnet: false, controlnets: [] }))).toMatch(/has no ControlNet/);
  });
});

describe('what is generated from', () => {
  const sketch = createLayer('sketch', { id: 'sk', strokes: [] });
  const mask = createLayer('mask', { id: 'm', image: { part: 'parts/m.png' }, ...raster, colour: '#ff0000' });
  const picture = createLayer('reference', { id: 'ref', image: { part: 'parts/r.png' }, x: 300, y: 0, width: 100, height: 100, source: 'drop.png' });

  it('the init image is every visible picture and mark layer, not masks or controls', () => {
    const hidden = createLayer('paint', { id: 'p', visible: false, image: { part: 'parts/p.png' }, ...raster });
    const doc = docWith(sketch, picture, hidden, mask, createControlLayer({ controlType: 'scribble', sourceLayerId: 'sk' }));
    expect(pictureLayers(doc).map((l) => l.id)).toEqual(['sk', 'ref']);
  });

  it('a frame shows a picture only where a picture layer overlaps it (marks do not count)', () => {
    const doc = docWith(sketch, picture);
    expect(frameHasPicture(doc, { x: 0, y: 0, width: 256, height: 256 })).toBe(false);
    expect(frameHasPicture(doc, { x: 256, y: 0, width: 256, height: 256 })).toBe(true);
  });

  it('chooses the mode: empty frame → sketch, picture → canvas, picture and mask → inpaint; explicit choices hold where they can', () => {
    expect(resolveMode('auto', { picture: false, mask: false })).toBe('sketch');
    expect(resolveMode('auto', { picture: false, mask: true })).toBe('sketch');
    expect(resolveMode('auto', { picture: true, mask: false })).toBe('canvas');
    expect(resolveMode('auto', { picture: true, mask: true })).toBe('inpaint');
    expect(resolveMode('sketch', { picture: true, mask: true })).toBe('sketch');
    expect(resolveMode('canvas', { picture: false, mask: false })).toBe('canvas');
    expect(resolveMode('inpaint', { picture: true, mask: false })).toBe('canvas');
  });

  it('extends when the frame reaches past the canvas over a picture', () => {
    expect(resolveMode('auto', { picture: true, mask: false, outside: true })).toBe('extend');
    expect(resolveMode('auto', { picture: false, mask: false, outside: true })).toBe('sketch');
    expect(resolveMode('extend', { picture: true, mask: false, outside: false })).toBe('canvas');
    expect(resolveMode('canvas', { picture: true, mask: false, outside: true })).toBe('canvas');
  });
});

describe('outpainting geometry', () => {
  const doc = docWith(
    createLayer('sketch', { id: 'sk', strokes: [{ id: 's1', tool: 'brush', colour: '#000000', width: 4, points: [10, 20, 0.5] }] }),
    createLayer('shapes', { id: 'sh', shapes: [{ type: 'line', id: 'h1', stroke: '#000000', strokeWidth: 4, fill: null, x1: 0, y1: 5, x2: 9, y2: 5 }] }),
    createLayer('reference', { id: 'ref', image: { part: 'parts/r.png' }, ...raster, source: null }),
  );

  it('tells a frame past the canvas and where the canvas lies in it', () => {
    expect(frameOutside(doc, { x: 0, y: 0, width: 256, height: 256 })).toBe(false);
    expect(frameOutside(doc, { x: 128, y: 0, width: 256, height: 256 })).toBe(true);
    expect(frameOutside(doc, { x: -1, y: 0, width: 64, height: 64 })).toBe(true);
    expect(canvasInFrame(doc, { x: 128, y: -32, width: 256, height: 256 })).toEqual({ x: 0, y: 32, width: 128, height: 224 });
  });

  it('grows right and down in place, and left or up by shifting every layer', () => {
    const right = growToInclude(doc, { x: 128, y: 0, width: 256, height: 256 });
    expect(right.doc.canvas).toMatchObject({ width: 384, height: 256 });
    expect([right.dx, right.dy]).toEqual([0, 0]);
    expect(right.doc.layers).toBe(doc.layers);
    const left = growToInclude(doc, { x: -64, y: -16, width: 256, height: 256 });
    expect(left.doc.canvas).toMatchObject({ width: 320, height: 272 });
    expect([left.dx, left.dy]).toEqual([64, 16]);
    const [sk, sh, ref] = left.doc.layers;
    expect(sk?.kind === 'sketch' && sk.strokes[0]?.points).toEqual([74, 36, 0.5]);
    expect(sh?.kind === 'shapes' && sh.shapes[0]).toMatchObject({ x1: 64, y1: 21, x2: 73, y2: 21 });
    expect(ref).toMatchObject({ x: 64, y: 16 });
    // Inside the canvas: nothing changes.
    expect(growToInclude(doc, { x: 0, y: 0, width: 100, height: 100 }).doc).toBe(doc);
  });
});
