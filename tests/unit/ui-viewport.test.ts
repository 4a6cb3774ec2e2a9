import { describe, expect, it } from 'vitest';
import { MAX_SCALE, canvasToScreen, fitToView, panBy, rectFromDrag, screenToCanvas, wheelZoomFactor, zoomAt, zoomStep } from '../../renderer/src/canvas/viewport.js';

describe('viewport math', () => {
  it('maps screen to canvas and back', () => {
    const view = { x: 30, y: -12, scale: 2.5 };
    const p = { x: 417, y: 233 };
    const back = canvasToScreen(view, screenToCanvas(view, p));
    expect(back.x).toBeCloseTo(p.x, 10);
    expect(back.y).toBeCloseTo(p.y, 10);
  });

  it('zooms about the cursor: the canvas point under it stays put', () => {
    const view = { x: 100, y: 50, scale: 1 };
    const anchor = { x: 300, y: 200 };
    const before = screenToCanvas(view, anchor);
    const zoomed = zoomAt(view, anchor, 3);
    expect(zoomed.scale).toBe(3);
    const after = screenToCanvas(zoomed, anchor);
    expect(after.x).toBeCloseTo(before.x, 10);
    expect(after.y).toBeCloseTo(before.y, 10);
  });

  it('clamps the scale', () => {
    expect(zoomAt({ x: 0, y: 0, scale: 30 }, { x: 0, y: 0 }, 10).scale).toBe(MAX_SCALE);
  });

  it('wheel zoom in then out by the same delta returns exactly', () => {
    expect(wheelZoomFactor(120) * wheelZoomFactor(-120)).toBeCloseTo(1, 12);
    expect(wheelZoomFactor(-100)).toBeGreaterThan(1);
  });

  it('two zoom steps double the scale', () => {
    const v = zoomStep(zoomStep({ x: 0, y: 0, scale: 1 }, { x: 0, y: 0 }, 1), { x: 0, y: 0 }, 1);
    expect(v.scale).toBeCloseTo(2, 12);
  });

  it('fits a document centred inside the margins and never enlarges past 1', () => {
    const fit = fitToView({ width: 1024, height: 512 }, { width: 600, height: 400 }, 20);
    expect(fit.scale).toBeCloseTo(560 / 1024, 10);
    expect(fit.x).toBeCloseTo((600 - 1024 * fit.scale) / 2, 10);
    expect(fit.y).toBeCloseTo((400 - 512 * fit.scale) / 2, 10);
    expect(fitToView({ width: 100, height: 100 }, { width: 1000, height: 1000 }).scale).toBe(1);
  });

  it('pans and normalises drag rectangles', () => {
    expect(panBy({ x: 1, y: 2, scale: 3 }, 10, -5)).toEqual({ x: 11, y: -3, scale: 3 });
    expect(rectFromDrag({ x: 10, y: 40 }, { x: 4, y: 5 })).toEqual({ x: 4, y: 5, width: 6, height: 35 });
  });
});
