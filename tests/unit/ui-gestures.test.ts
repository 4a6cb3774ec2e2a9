import { describe, expect, it } from 'vitest';
import { type Layer, type ProjectDocument, addLayer, createDocument, createLayer, setLayerProperties } from '../../app/projects/document/index.js';
import { TOOLS, type GestureContext, type Op, type Plan, type PointerSample, toolForKey } from '../../renderer/src/canvas/gestures/index.js';
import { brushTarget, shapeTarget } from '../../renderer/src/canvas/gestures/targets.js';
import { layerAt, scaleRect } from '../../renderer/src/canvas/gestures/transform.js';

// Canvas tools as gesture modules: pointer samples in, a plan out, no DOM.

const part = (n: number) => ({ part: `parts/p${n}.png` });
const raster = { x: 0, y: 0, width: 256, height: 256 };

function docWith(...layers: Layer[]): ProjectDocument {
  return layers.reduce((d, l) => addLayer(d, l), createDocument({ width: 256, height: 256 }));
}

function ctx(doc: ProjectDocument, selection: string[] = [], extra: Partial<GestureContext> = {}): GestureContext {
  return {
    doc,
    selection,
    colour: '#112233',
    width: 8,
    maskFeather: 2,
    regionLabel: 'red barn',
    viewport: { x: 0, y: 0, scale: 1 },
    frame: { x: 0, y: 0, width: 256, height: 256 },
    sizeMultiple: 64,
    ...extra,
  };
}

const at = (x: number, y: number, extra: Partial<PointerSample> = {}): PointerSample => ({ screen: { x, y }, at: { x, y }, pressure: 0.5, button: 0, shift: false, target: '', ...extra });

/** Runs a tool's gesture through a drag and returns the live ops and the plan. */
function drag(tool: keyof typeof TOOLS, c: GestureContext, points: PointerSample[]): { live: Op[]; plan: Plan | null } {
  const g = TOOLS[tool].gesture;
  const [first, ...rest] = points;
  const begun = g.begin(first as PointerSample, c);
  const live: Op[] = [...(begun.ops ?? [])];
  let state = begun.state;
  if (state === null) return { live, plan: null };
  for (const p of rest) {
    const step = g.move(state, p, c);
    live.push(...(step.ops ?? []));
    if (step.state !== null) state = step.state;
  }
  return { live, plan: g.end(state, c) };
}

describe('where marks go', () => {
  const sketch = createLayer('sketch', { id: 'sk', strokes: [] });
  const candidate = createLayer('generated', { id: 'gen', image: part(1), ...raster, generationId: 'g1', candidateId: 'c1' });
  const reference = createLayer('reference', { id: 'ref', image: part(2), ...raster, source: null });
  const paint = createLayer('paint', { id: 'pa', image: part(3), ...raster });

  it('paints into a selected sketch or paint layer', () => {
    expect(brushTarget(docWith(sketch), ['sk'], 'brush')).toEqual({ layerId: 'sk' });
    expect(brushTarget(docWith(candidate, paint), ['pa'], 'brush')).toEqual({ layerId: 'pa' });
  });

  it('makes a paint layer right above a selected candidate or reference', () => {
    const doc = docWith(sketch, candidate, createLayer('mask', { id: 'm', image: part(4), ...raster, colour: '#ff0000' }));
    const t = brushTarget(doc, ['gen'], 'brush');
    expect(t).toMatchObject({ create: { kind: 'paint', index: 2 } });
    const refDoc = docWith(reference, sketch);
    expect(brushTarget(refDoc, ['ref'], 'brush')).toMatchObject({ create: { kind: 'paint', index: 1 } });
    // A paint layer already right above is reused: switching tools does not pile up layers.
    expect(brushTarget(docWith(candidate, paint), ['gen'], 'brush')).toEqual({ layerId: 'pa' });
  });

  it('refuses a hidden or locked layer with a reason, for the brush, the eraser and shapes', () => {
    const hidden = setLayerProperties(docWith(sketch), 'sk', { visible: false });
    expect(brushTarget(hidden, ['sk'], 'brush')).toEqual({ refuse: expect.stringMatching(/hidden/) });
    const locked = setLayerProperties(docWith(candidate), 'gen', { locked: true });
    expect(brushTarget(locked, ['gen'], 'brush')).toEqual({ refuse: expect.stringMatching(/locked/) });
    expect(shapeTarget(locked, ['gen'])).toEqual({ refuse: expect.stringMatching(/locked/) });
    expect(brushTarget(docWith(candidate), ['gen'], 'eraser')).toEqual({ refuse: expect.stringMatching(/keeps its pixels/) });
  });

  it('without a suitable selection, uses the topmost sketch nothing covers, else a new layer on top of the picture', () => {
    expect(brushTarget(docWith(sketch), [], 'brush')).toEqual({ layerId: 'sk' });
    // The only sketch lies under a candidate: a paint layer above the picture, never the hidden sketch.
    const mask = createLayer('mask', { id: 'm', image: part(4), ...raster, colour: '#ff0000' });
    expect(brushTarget(docWith(sketch, candidate, mask), ['m'], 'brush')).toMatchObject({ create: { kind: 'paint', index: 2 } });
    expect(brushTarget(docWith(), [], 'brush')).toMatchObject({ create: { kind: 'sketch', index: 0 } });
    // A control layer stands for its source sketch.
    const control = createLayer('control', { id: 'ct', controlType: 'scribble', model: null, preprocess: 'scribble', weight: 1, start: 0, end: 1, image: null, sourceLayerId: 'sk', cannyLow: 100, cannyHigh: 200 });
    expect(brushTarget(docWith(sketch, createLayer('sketch', { id: 'sk2', strokes: [] }), control), ['ct'], 'brush')).toEqual({ layerId: 'sk' });
  });

  it('puts shapes on a shapes layer above the selected mark layer, reusing the one there', () => {
    expect(shapeTarget(docWith(sketch), ['sk'])).toMatchObject({ create: { kind: 'shapes', index: 1 } });
    const shapes = createLayer('shapes', { id: 'sh', shapes: [] });
    expect(shapeTarget(docWith(sketch, shapes), ['sk'])).toEqual({ layerId: 'sh' });
    expect(shapeTarget(docWith(sketch, shapes), [])).toEqual({ layerId: 'sh' });
  });
});

describe('gesture plans', () => {
  it('a brush drag on a sketch is one stroke in one step', () => {
    const doc = docWith(createLayer('sketch', { id: 'sk', strokes: [] }));
    const { plan } = drag('brush', ctx(doc, ['sk']), [at(10, 10), at(20.123, 10, { pressure: 0.8 }), at(30, 12)]);
    expect(plan?.label).toBe('Draw');
    expect(plan?.ops).toHaveLength(1);
    expect(plan?.ops[0]).toMatchObject({ op: 'add-stroke', layerId: 'sk', stroke: { tool: 'brush', colour: '#112233', width: 8, points: [10, 10, 0.5, 20.12, 10, 0.8, 30, 12, 0.5] } });
  });

  it('a brush drag over a selected candidate creates, selects and paints a paint layer in one plan', () => {
    const doc = docWith(createLayer('generated', { id: 'gen', image: part(1), ...raster, generationId: 'g1', candidateId: 'c1' }));
    const { plan } = drag('brush', ctx(doc, ['gen']), [at(10, 10), at(40, 40)]);
    expect(plan?.label).toBe('Paint');
    expect(plan?.ops.map((o) => o.op)).toEqual(['create-layer', 'select', 'paint']);
    const created = plan?.ops[0] as Extract<Op, { op: 'create-layer' }>;
    expect(created.layer).toMatchObject({ kind: 'paint', index: 1 });
    expect(plan?.ops[2]).toMatchObject({ op: 'paint', layerId: created.layer.id });
  });

  it('a refusal is a hint and no plan', () => {
    const doc = setLayerProperties(docWith(createLayer('sketch', { id: 'sk', strokes: [] })), 'sk', { locked: true });
    const { live, plan } = drag('brush', ctx(doc, ['sk']), [at(10, 10), at(40, 40)]);
    expect(plan).toBeNull();
    expect(live).toEqual([{ op: 'hint', message: expect.stringMatching(/locked/) }]);
  });

  it('shapes: a rectangle, a square with Shift, a labelled region; a click draws nothing', () => {
    const doc = docWith(createLayer('shapes', { id: 'sh', shapes: [] }));
    const r = drag('rect', ctx(doc, ['sh']), [at(50, 60), at(10, 20)]).plan;
    expect(r?.ops).toEqual([{ op: 'add-shape', layerId: 'sh', shape: expect.objectContaining({ type: 'rectangle', x: 10, y: 20, width: 40, height: 40, stroke: '#112233', strokeWidth: 8 }) }]);
    const sq = drag('ellipse', ctx(doc, ['sh']), [at(0, 0), at(30, 10, { shift: true })]).plan;
    expect(sq?.ops[0]).toMatchObject({ shape: { type: 'ellipse', width: 30, height: 30 } });
    const reg = drag('region', ctx(doc, ['sh']), [at(0, 0), at(30, 30)]).plan;
    expect(reg?.ops[0]).toMatchObject({ shape: { type: 'region', label: 'red barn' } });
    expect(drag('rect', ctx(doc, ['sh']), [at(5, 5), at(6, 6)]).plan).toBeNull();
    const ln = drag('line', ctx(doc, ['sh']), [at(0, 100), at(200, 100)]).plan;
    expect(ln?.ops[0]).toMatchObject({ shape: { type: 'line', x1: 0, y1: 100, x2: 200, y2: 100 } });
  });

  it('the mask brush plans a feathered mask stroke', () => {
    const { plan } = drag('mask', ctx(docWith()), [at(1, 2), at(3, 4)]);
    expect(plan).toEqual({ label: 'Paint mask', ops: [{ op: 'mask', points: [1, 2, 0.5, 3, 4, 0.5], width: 8, feather: 2, mode: 'paint' }] });
    expect(drag('mask-erase', ctx(docWith()), [at(1, 2)]).plan?.ops[0]).toMatchObject({ mode: 'erase' });
  });

  it('pan moves the view live and leaves the document alone', () => {
    const { live, plan } = drag('pan', ctx(docWith()), [at(10, 10), at(25, 5), at(30, 20)]);
    expect(plan).toBeNull();
    expect(live.at(-1)).toEqual({ op: 'viewport', viewport: { x: 20, y: 10, scale: 1 } });
  });

  it('the move tool drags the frame live into the document, and a handle resize is one settings step snapped to the multiple', () => {
    const c = ctx(docWith(), [], { frame: { x: 10, y: 10, width: 256, height: 256 } });
    const moved = drag('select', c, [at(50, 50), at(80, 70)]);
    expect(moved.live.at(-1)).toEqual({ op: 'frame', x: 40, y: 30 });
    expect(moved.plan).toEqual({ label: 'Move frame', ops: [{ op: 'commit-frame', x: 40, y: 30 }] });
    expect(drag('select', c, [at(50, 50), at(80, 70), at(50, 50)]).plan).toBeNull();
    const resized = drag('select', c, [at(266, 138, { target: 'frame-handle-right' }), at(400, 138), at(390, 500)]);
    expect(resized.live.filter((o) => o.op === 'frame-size').at(-1)).toEqual({ op: 'frame-size', width: 384, height: 256 });
    expect(resized.plan).toEqual({ label: 'Resize frame', ops: [{ op: 'commit-frame-size', from: { width: 256, height: 256 }, to: { width: 384, height: 256 } }] });
  });

  it('previews what the drag will make', () => {
    const doc = docWith(createLayer('shapes', { id: 'sh', shapes: [] }));
    const g = TOOLS.region.gesture;
    const s = g.begin(at(0, 0), ctx(doc, ['sh'])).state;
    g.move(s, at(20, 10), ctx(doc, ['sh']));
    expect(g.preview?.(s)).toMatchObject({ kind: 'shape', dashed: true, shape: { type: 'region', width: 20, height: 10 } });
  });

  it('keys pick tools from the same table as the toolbar', () => {
    expect(toolForKey('b', false)).toBe('brush');
    expect(toolForKey('m', true)).toBe('mask-erase');
    expect(toolForKey('m', false)).toBe('mask');
    expect(toolForKey('q', false)).toBeUndefined();
  });

  it('the transform tool moves a picture layer in one step, or scales it from a corner keeping its aspect', () => {
    const ref = createLayer('reference', { id: 'ref', image: part(2), x: 10, y: 10, width: 100, height: 50, source: null });
    const doc = docWith(createLayer('sketch', { id: 'sk', strokes: [] }), ref);
    const moved = drag('transform', ctx(doc, ['sk']), [at(50, 30), at(60, 35), at(80, 45)]);
    // Pressed on the picture: it is selected and moved by the drag.
    expect(moved.live).toEqual([{ op: 'select', layerId: 'ref' }]);
    expect(moved.plan).toEqual({ label: 'Move layer', ops: [{ op: 'place', layerId: 'ref', kind: 'reference', placement: { x: 40, y: 25, width: 100, height: 50 } }] });
    const scaled = drag('transform', ctx(doc, ['ref']), [at(110, 60, { target: 'transform-handle-se' }), at(210, 70)]);
    expect(scaled.plan?.ops[0]).toMatchObject({ placement: { x: 10, y: 10, width: 200, height: 100 } });
    const free = drag('transform', ctx(doc, ['ref']), [at(10, 10, { target: 'transform-handle-nw' }), at(60, 0, { shift: true })]);
    expect(free.plan?.ops[0]).toMatchObject({ placement: { x: 60, y: 0, width: 50, height: 60 } });
    // A click without a drag changes nothing; empty paper is not a layer.
    expect(drag('transform', ctx(doc, ['ref']), [at(50, 30)]).plan).toBeNull();
    expect(drag('transform', ctx(doc, []), [at(200, 200)]).live).toEqual([{ op: 'hint', message: expect.stringMatching(/Press on a picture layer/) }]);
    const locked = setLayerProperties(doc, 'ref', { locked: true });
    expect(drag('transform', ctx(locked, ['ref']), [at(50, 30), at(80, 45)]).live).toEqual([{ op: 'hint', message: expect.stringMatching(/locked/) }]);
  });

  it('scales never below a pixel and never flips past the opposite corner', () => {
    expect(scaleRect({ x: 0, y: 0, width: 10, height: 10 }, 'se', { x: -50, y: -50 }, false)).toEqual({ x: 0, y: 0, width: 1, height: 1 });
    expect(layerAt(docWith(), [], { x: 1, y: 1 })).toBeUndefined();
  });

  it('selections become mask areas: a rectangle, a circle with Shift, a lasso polygon', () => {
    const c = ctx(docWith());
    expect(drag('select-rect', c, [at(50, 60), at(10, 20)]).plan).toEqual({ label: 'Select rectangle', ops: [{ op: 'mask-area', area: { kind: 'rect', rect: { x: 10, y: 20, width: 40, height: 40 } }, feather: 2 }] });
    expect(drag('select-ellipse', c, [at(0, 0), at(30, 10, { shift: true })]).plan?.ops[0]).toMatchObject({ area: { kind: 'ellipse', rect: { width: 30, height: 30 } } });
    expect(drag('lasso', c, [at(0, 0), at(10, 0), at(5, 8.123)]).plan?.ops[0]).toEqual({ op: 'mask-area', area: { kind: 'polygon', points: [0, 0, 10, 0, 5, 8.12] }, feather: 2 });
    // Too small to be an area: nothing.
    expect(drag('lasso', c, [at(0, 0), at(10, 0)]).plan).toBeNull();
    expect(drag('select-rect', c, [at(0, 0), at(1, 40)]).plan).toBeNull();
    expect(toolForKey('s', true)).toBe('select-ellipse');
  });
});
