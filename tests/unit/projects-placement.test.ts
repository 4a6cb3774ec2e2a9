import { describe, expect, it } from 'vitest';
import { type Layer, type ProjectDocument, addLayer, containsPoint, createDocument, createLayer, dragRotation, isTurned, normalizeAngle, placementMatrix, restoreDocument, toCanvas, toLocal, turnedBounds, turnedCorners, updateLayer } from '../../app/projects/document/index.js';
import { renderLayer, turnPixels } from '../../app/projects/render.js';
import { TOOLS, type GestureContext, type Op, type Plan, type PointerSample } from '../../renderer/src/canvas/gestures/index.js';
import { flipPlan } from '../../renderer/src/canvas/gestures/transform.js';

// Rotated and flipped picture layers (docs/canvas.md, "Move, scale, rotate, flip"): the shared
// placement math, the transform tool's rotate and flip handles, and the export's pixels.

const close = (a: { x: number; y: number }, b: { x: number; y: number }) => {
  expect(a.x).toBeCloseTo(b.x, 6);
  expect(a.y).toBeCloseTo(b.y, 6);
};

describe('placement math', () => {
  const box = { x: 10, y: 20, width: 100, height: 50 };

  it('rotates about the centre clockwise and maps points back and forth', () => {
    const turned = { ...box, rotation: 90 };
    // The unturned top-left corner goes to the top-right of the turned box (clockwise, y down).
    close(turnedCorners(turned)[0]!, { x: 85, y: -5 });
    expect(turnedBounds(turned)).toEqual({ x: expect.closeTo(35, 6), y: expect.closeTo(-5, 6), width: expect.closeTo(50, 6), height: expect.closeTo(100, 6) });
    for (const placement of [turned, { ...box, flipX: true }, { ...box, rotation: -33, flipY: true }, { ...box, rotation: 200, flipX: true, flipY: true }]) {
      const p = { x: 17, y: 31 };
      close(toLocal(toCanvas(p, placement), placement), p);
      // The matrix draws the unturned rectangle where toCanvas says it shows.
      const [a, b, c, d, e, f] = placementMatrix(placement);
      close({ x: a * p.x + c * p.y + e, y: b * p.x + d * p.y + f }, toCanvas(p, placement));
    }
    // Flip left↔right mirrors about the vertical centre line.
    close(toCanvas({ x: 10, y: 20 }, { ...box, flipX: true }), { x: 110, y: 20 });
  });

  it('hit-tests the turned rectangle, not its unturned box', () => {
    const turned = { ...box, rotation: 90 };
    expect(containsPoint(turned, { x: 60, y: 0 })).toBe(true); // above the unturned box, inside the turned one
    expect(containsPoint(turned, { x: 15, y: 25 })).toBe(false); // the unturned corner, now outside
  });

  it('normalises angles and snaps a rotate drag to 15°', () => {
    expect(normalizeAngle(270)).toBe(-90);
    expect(normalizeAngle(-180)).toBe(180);
    expect(isTurned({ rotation: 360 })).toBe(false);
    expect(isTurned({ flipY: true })).toBe(true);
    const c = { x: 0, y: 0 };
    expect(dragRotation(0, c, { x: 10, y: 0 }, { x: 0, y: 10 }, false)).toBe(90);
    expect(dragRotation(10, c, { x: 10, y: 0 }, { x: 10, y: 2 }, true)).toBe(15);
  });
});

const part = (n: number) => ({ part: `parts/p${n}.png` });

function docWith(...layers: Layer[]): ProjectDocument {
  return layers.reduce((d, l) => addLayer(d, l), createDocument({ name: 't', width: 512, height: 512 }));
}

function ctx(doc: ProjectDocument, selection: string[]): GestureContext {
  return { doc, selection, colour: '#000000', width: 4, maskFeather: 2, regionLabel: '', viewport: { x: 0, y: 0, scale: 1 }, frame: { x: 0, y: 0, width: 512, height: 512 }, sizeMultiple: 8 };
}

const at = (x: number, y: number, extra: Partial<PointerSample> = {}): PointerSample => ({ screen: { x, y }, at: { x, y }, pressure: 0.5, button: 0, shift: false, target: '', ...extra });

function drag(c: GestureContext, points: PointerSample[]): { live: Op[]; plan: Plan | null } {
  const g = TOOLS.transform.gesture;
  const live: Op[] = [];
  const first = g.begin(points[0]!, c);
  live.push(...(first.ops ?? []));
  let state = first.state;
  if (state === null) return { live, plan: null };
  for (const p of points.slice(1)) {
    const step = g.move(state, p, c);
    live.push(...(step.ops ?? []));
    state = step.state ?? state;
  }
  return { live, plan: g.end(state, c) };
}

describe('the transform tool turns picture layers', () => {
  const ref = createLayer('reference', { id: 'ref', image: part(2), x: 100, y: 100, width: 100, height: 50, source: null });
  const doc = docWith(ref);

  it('rotates by the handle in one step (Shift snaps) and flips by its buttons', () => {
    // Centre (150, 125): from straight above to straight right is a quarter turn clockwise.
    const rotated = drag(ctx(doc, ['ref']), [at(150, 75, { target: 'transform-handle-rotate' }), at(170, 90), at(250, 125)]);
    expect(rotated.plan).toEqual({ label: 'Rotate layer', ops: [{ op: 'place', layerId: 'ref', kind: 'reference', placement: { x: 100, y: 100, width: 100, height: 50, rotation: 90 } }] });
    const snapped = drag(ctx(doc, ['ref']), [at(150, 75, { target: 'transform-handle-rotate' }), at(160, 76, { shift: true })]);
    expect(snapped.plan?.ops[0]).toMatchObject({ placement: { rotation: 15 } });
    const flipped = drag(ctx(doc, ['ref']), [at(0, 0, { target: 'transform-handle-flip-x' })]);
    expect(flipped.plan).toEqual({ label: 'Flip layer', ops: [{ op: 'place', layerId: 'ref', kind: 'reference', placement: { x: 100, y: 100, width: 100, height: 50, flipX: true } }] });
  });

  it('picks and moves a rotated layer where it shows, and scales it keeping the opposite corner on the canvas', () => {
    const turned = updateLayer(doc, 'ref', 'reference', { rotation: 90 });
    // (150, 160) lies inside the turned layer only (the unturned box ends at y 150).
    const moved = drag(ctx(turned, []), [at(150, 160), at(160, 170)]);
    expect(moved.plan?.ops[0]).toMatchObject({ op: 'place', placement: { x: 110, y: 110, rotation: 90 } });
    const scaled = drag(ctx(turned, ['ref']), [at(0, 0, { target: 'transform-handle-se' }), at(125, 250, { shift: true })]);
    const placement = (scaled.plan!.ops[0] as Extract<Op, { op: 'place' }>).placement;
    // The nw corner (unturned) shows at (175, 75) before and after.
    close(turnedCorners(placement)[0]!, turnedCorners({ ...ref, rotation: 90 })[0]!);
    expect(placement.rotation).toBe(90);
  });

  it('flips by its shortcut as by its button, and back', () => {
    const plan = flipPlan(doc, ['ref'], 'y');
    expect(plan).toEqual({ label: 'Flip layer', ops: [{ op: 'place', layerId: 'ref', kind: 'reference', placement: { x: 100, y: 100, width: 100, height: 50, flipY: true } }] });
    const flipped = updateLayer(doc, 'ref', 'reference', { flipY: true });
    expect(flipPlan(flipped, ['ref'], 'y')).toMatchObject({ ops: [{ placement: { flipY: false } }] });
    expect(flipPlan(doc, [], 'x')).toEqual({ hint: expect.stringMatching(/to flip it/) });
  });

  it('refuses to rotate a mask', () => {
    const mask = createLayer('mask', { id: 'm', image: part(3), x: 0, y: 0, width: 512, height: 512, colour: '#ff000080' });
    const withMask = docWith(mask);
    expect(drag(ctx(withMask, ['m']), [at(0, 0, { target: 'transform-handle-rotate' }), at(10, 10)]).live).toEqual([{ op: 'hint', message: expect.stringMatching(/moves and scales only/) }]);
  });

  it('older documents open unchanged: no orientation fields, none added', () => {
    const restored = restoreDocument(JSON.parse(JSON.stringify(doc)));
    expect(restored.layers[0]).not.toHaveProperty('rotation');
    expect(restoreDocument(JSON.parse(JSON.stringify(updateLayer(doc, 'ref', 'reference', { rotation: 45, flipY: true })))).layers[0]).toMatchObject({ rotation: 45, flipY: true });
  });
});

describe('exports draw the layer turned', () => {
  // A 2×1 raster: red on the left, blue on the right.
  const image = { width: 2, height: 1, data: new Uint8Array([255, 0, 0, 255, 0, 0, 255, 255]) };
  const pixel = (img: { width: number; data: Uint8Array }, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));

  it('mirrors, then rotates clockwise about the centre', async () => {
    const flipped = await turnPixels(image, { x: 10, y: 10, width: 2, height: 1, flipX: true });
    expect([pixel(flipped.image, 0, 0), pixel(flipped.image, 1, 0)]).toEqual([
      [0, 0, 255, 255],
      [255, 0, 0, 255],
    ]);
    expect([flipped.left, flipped.top]).toEqual([10, 10]);
    const quarter = await turnPixels(image, { x: 10, y: 10, width: 2, height: 1, rotation: 90 });
    // Clockwise: the left (red) end goes up.
    expect([quarter.image.width, quarter.image.height]).toEqual([1, 2]);
    expect([pixel(quarter.image, 0, 0), pixel(quarter.image, 0, 1)]).toEqual([
      [255, 0, 0, 255],
      [0, 0, 255, 255],
    ]);
    expect([quarter.left, quarter.top]).toEqual([Math.round(11 - 0.5), Math.round(10.5 - 1)]);
  });

  it('the strip export draws a turned layer as the one-piece flatten does', async () => {
    const { decodePng, encodePng, flatten } = await import('../../app/projects/render.js');
    const { flattenToPngInStrips } = await import('../../app/projects/render-strips.js');
    const big = { width: 8, height: 4, data: new Uint8Array(8 * 4 * 4) };
    for (let p = 0; p < 32; p++) big.data.set(p % 8 < 4 ? [200, 20, 20, 255] : [20, 20, 200, 255], p * 4);
    const assets = { 'parts/p8.png': `data:image/png;base64,${(await encodePng(big)).toString('base64')}` };
    const layer = createLayer('paint', { id: 'q', image: part(8), x: 4, y: 6, width: 8, height: 4 });
    const base = docWith(layer);
    const turned = updateLayer({ ...base, canvas: { ...base.canvas, width: 16, height: 16 } }, 'q', 'paint', { rotation: 90, flipY: true });
    const strips = await decodePng(await flattenToPngInStrips(turned, assets));
    const whole = await flatten(turned, assets);
    expect(Buffer.from(strips.data).equals(Buffer.from(whole.data))).toBe(true);
    // Turned a quarter: the red (left) half is on top, within the turned box (x 6..10, y 4..12).
    expect(pixel(whole, 8, 5)).toEqual([200, 20, 20, 255]);
    expect(pixel(whole, 8, 10)).toEqual([20, 20, 200, 255]);
  });

  it('renderLayer places a flipped layer mirrored on the canvas', async () => {
    const { encodePng } = await import('../../app/projects/render.js');
    const png = await encodePng(image);
    const assets = { 'parts/p9.png': `data:image/png;base64,${png.toString('base64')}` };
    const layer = createLayer('paint', { id: 'p', image: part(9), x: 1, y: 0, width: 2, height: 1 });
    const small = { ...docWith(layer), canvas: { ...createDocument({ name: 't', width: 4, height: 1 }).canvas } };
    const plain = await renderLayer(small, assets, small.layers[0]!);
    expect(pixel(plain, 1, 0)).toEqual([255, 0, 0, 255]);
    const mirrored = updateLayer(small, 'p', 'paint', { flipX: true });
    const out = await renderLayer(mirrored, assets, mirrored.layers[0]!);
    expect([pixel(out, 1, 0), pixel(out, 2, 0)]).toEqual([
      [0, 0, 255, 255],
      [255, 0, 0, 255],
    ]);
  });
});
