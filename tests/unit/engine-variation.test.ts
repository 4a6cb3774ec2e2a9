import { describe, expect, it } from 'vitest';
import { TorchCpuGenerator } from '../../app/engine/rng/torch-generator.js';
import { candidateNoise, candidateSeeds, slerpNoise } from '../../app/engine/rng/variation.js';

// A1111's variation seeds (app/engine/rng/variation.ts): the batch rule and the slerp along
// dim 1 of (C, H, W) noise.
const C = 4;
const H = 6;
const W = 5;
const noiseOf = (seed: number) => new TorchCpuGenerator(seed).randn(C * H * W);

/** One (channel, column) line of a (C, H, W) tensor. */
function line(t: Float32Array, c: number, x: number): number[] {
  return Array.from({ length: H }, (_, y) => t[(c * H + y) * W + x]!);
}
const norm = (v: number[]) => Math.hypot(...v);
const angle = (a: number[], b: number[]) => Math.acos(a.reduce((s, v, i) => s + v * b[i]!, 0) / (norm(a) * norm(b)));

describe('variation seeds', () => {
  it('keeps the seed for every candidate and counts the variation seed up, as A1111 does', () => {
    expect(candidateSeeds({ seed: 10 }, 2)).toEqual({ seed: 12 });
    expect(candidateSeeds({ seed: 10, variation: { seed: 99, strength: 0 } }, 2)).toEqual({ seed: 12 });
    expect(candidateSeeds({ seed: 10, variation: { seed: 99, strength: 0.3 } }, 2)).toEqual({ seed: 10, variation: { seed: 101, strength: 0.3 } });
  });

  it('slerps each (channel, column) line: strength 0 is the seed, 1 the variation seed, between rotates by that fraction of the angle', () => {
    const a = noiseOf(1);
    const b = noiseOf(2);
    const at0 = slerpNoise(0, a, b, C, H, W);
    const at1 = slerpNoise(1, a, b, C, H, W);
    for (let i = 0; i < a.length; i++) {
      expect(at0[i]).toBeCloseTo(a[i]!, 5);
      expect(at1[i]).toBeCloseTo(b[i]!, 5);
    }
    // On lines of equal length the rotation is exact (slerp's defining property).
    const [ua, ub] = [unitLines(a), unitLines(b)];
    const mid = slerpNoise(0.25, ua, ub, C, H, W);
    for (const [c, x] of [[0, 0], [3, 4], [2, 1]] as const) {
      const [la, lb, lm] = [line(ua, c, x), line(ub, c, x), line(mid, c, x)];
      expect(norm(lm)).toBeCloseTo(1, 5);
      const total = angle(la, lb);
      expect(angle(la, lm)).toBeCloseTo(total * 0.25, 4);
      expect(angle(lm, lb)).toBeCloseTo(total * 0.75, 4);
    }
  });

  it('falls back to A1111\'s linear blend when the two noises are the same', () => {
    const a = noiseOf(5);
    const out = slerpNoise(0.4, a, a, C, H, W);
    for (let i = 0; i < a.length; i++) expect(out[i]).toBeCloseTo(a[i]!, 6);
  });

  it('draws the variation noise from its own generator, leaving the main stream as it was', () => {
    const plain = new TorchCpuGenerator(7);
    const varied = new TorchCpuGenerator(7);
    const n0 = candidateNoise(plain, { seed: 7 }, C, H, W);
    const n1 = candidateNoise(varied, { seed: 7, variation: { seed: 8, strength: 0.5 } }, C, H, W);
    expect(Array.from(n0)).toEqual(Array.from(noiseOf(7)));
    expect(Array.from(n1)).not.toEqual(Array.from(n0));
    // The ancestral noise drawn after it is the same either way.
    expect(Array.from(varied.randn(8))).toEqual(Array.from(plain.randn(8)));
    expect(() => slerpNoise(0.5, a0(), noiseOf(1), C, H, W)).toThrow(RangeError);
  });
});

function a0(): Float32Array {
  return new Float32Array(3);
}

/** Each (channel, column) line scaled to length 1. */
function unitLines(t: Float32Array): Float32Array {
  const out = new Float32Array(t.length);
  for (let c = 0; c < C; c++) {
    for (let x = 0; x < W; x++) {
      const n = norm(line(t, c, x));
      for (let y = 0; y < H; y++) out[(c * H + y) * W + x] = t[(c * H + y) * W + x]! / n;
    }
  }
  return out;
}
