import { describe, expect, it } from 'vitest';
import { cannyEdges } from '../../renderer/src/canvas/canny.js';

function square(size: number, from: number, to: number, value = 255): Uint8Array {
  const rgba = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = x >= from && x < to && y >= from && y < to ? value : 0;
      rgba.set([v, v, v, 255], (y * size + x) * 4);
    }
  }
  return rgba;
}

describe('canny preview', () => {
  it('outlines a square and nothing else', () => {
    const edges = cannyEdges(square(32, 8, 24), 32, 32, 100, 200);
    let inside = 0;
    let onBorder = 0;
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        if (!edges[y * 32 + x]) continue;
        const nearEdge = (Math.abs(x - 8) <= 1 || Math.abs(x - 23) <= 1 || Math.abs(y - 8) <= 1 || Math.abs(y - 23) <= 1) && x >= 6 && x <= 25 && y >= 6 && y <= 25;
        if (nearEdge) onBorder++;
        else inside++;
      }
    }
    expect(inside).toBe(0);
    expect(onBorder).toBeGreaterThan(4 * 12);
  });

  it('suppresses a weak edge below the high threshold', () => {
    // A step of 20 gray levels gives an L1 Sobel magnitude of 80.
    expect(cannyEdges(square(32, 8, 24, 20), 32, 32, 100, 200).some((v) => v > 0)).toBe(false);
    expect(cannyEdges(square(32, 8, 24, 20), 32, 32, 20, 40).some((v) => v > 0)).toBe(true);
  });
});
