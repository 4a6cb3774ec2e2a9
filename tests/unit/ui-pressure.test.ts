import { describe, expect, it } from 'vitest';
import { NEUTRAL_PRESSURE, constantPressure, pressureWidth, widthRuns } from '../../app/projects/document/index.js';

describe('pen pressure → width', () => {
  it('draws the nominal width at the neutral pressure a mouse reports, thinner when light, up to twice at full press', () => {
    expect(pressureWidth(8, NEUTRAL_PRESSURE)).toBe(8);
    expect(pressureWidth(8, 0.25)).toBe(4);
    expect(pressureWidth(8, 1)).toBe(16);
    expect(pressureWidth(8, 3)).toBe(16);
    expect(pressureWidth(8, -1)).toBe(0);
  });

  it('tells strokes of one pressure (mouse) from varying ones (pen)', () => {
    expect(constantPressure([0, 0, 0.5, 10, 0, 0.5, 20, 0, 0.5])).toBe(0.5);
    expect(constantPressure([0, 0, 0.5])).toBe(0.5);
    expect(constantPressure([0, 0, 0.2, 10, 0, 0.9])).toBeNull();
  });

  it('splits a pen stroke into polylines whose width follows the mean pressure of each segment', () => {
    // Pressure rises 0.25 → 1 over four segments of a 4-pixel stroke.
    const points = [0, 0, 0.25, 10, 0, 0.25, 20, 0, 0.5, 30, 0, 1, 40, 0, 1];
    const runs = widthRuns(4, points);
    expect(runs.map((r) => r.width)).toEqual([2, 3, 6, 8]);
    // Consecutive runs share their end points, so the stroke stays connected.
    expect(runs.map((r) => r.path)).toEqual([
      [0, 0, 10, 0],
      [10, 0, 20, 0],
      [20, 0, 30, 0],
      [30, 0, 40, 0],
    ]);
  });

  it('merges neighbouring segments whose widths round to the same step into one polyline', () => {
    const points = [0, 0, 0.5, 10, 0, 0.51, 20, 0, 0.5, 30, 0, 0.9];
    const runs = widthRuns(4, points, 0.5);
    expect(runs).toEqual([
      { width: 4, path: [0, 0, 10, 0, 20, 0] },
      { width: 5.5, path: [20, 0, 30, 0] },
    ]);
  });
});
