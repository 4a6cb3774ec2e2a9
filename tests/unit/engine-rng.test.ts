import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fmaf } from '../../app/engine/rng/avx2-box-muller.js';
import { Mt19937 } from '../../app/engine/rng/mt19937.js';
import { TorchCpuGenerator } from '../../app/engine/rng/torch-generator.js';

interface Draw {
  count: number;
  values?: number[];
  sha256?: string;
  first?: number[];
  last?: number[];
  sum?: number;
}
interface Reference {
  torch: string;
  cases: Array<Draw & { seed: string; shape: number[] }>;
  sequence: { seed: string; counts: number[]; draws: Draw[] };
}

// Written by tests/fixtures/reference/make_rng_reference.py from torch 1.13 (x86, AVX2 kernel).
const reference = JSON.parse(
  readFileSync(new URL('../fixtures/reference/rng-reference.json', import.meta.url), 'utf8'),
) as Reference;

/** Exact float32 equality, bit pattern included (so −0 ≠ +0 and NaN is caught). */
function bits(a: ArrayLike<number>): number[] {
  const f = Float32Array.from(a);
  return Array.from(new Uint32Array(f.buffer));
}

function expectSameDraw(actual: Float32Array, expected: Draw): void {
  expect(actual.length).toBe(expected.count);
  if (expected.values) {
    expect(bits(actual)).toEqual(bits(expected.values));
    return;
  }
  expect(bits(actual.subarray(0, 32))).toEqual(bits(expected.first!));
  expect(bits(actual.subarray(actual.length - 32))).toEqual(bits(expected.last!));
  const hash = createHash('sha256').update(new Uint8Array(actual.buffer, actual.byteOffset, actual.byteLength)).digest('hex');
  expect(hash).toBe(expected.sha256);
}

describe('Mt19937', () => {
  it('matches the reference mt19937ar output (10000th draw of the default seed 5489 is 4123659995)', () => {
    // The C++ standard fixes this value for std::mt19937 default-constructed ([rand.predef]).
    const mt = new Mt19937(5489);
    let v = 0;
    for (let i = 0; i < 10000; i++) v = mt.nextUint32();
    expect(v).toBe(4123659995);
  });
});

describe('fmaf (single rounding of a·b + c)', () => {
  it('rounds once where rounding to double and then to float would round twice', () => {
    // a·b + c = 1 + 2^-23 + 2^-24 − 2^-70 exactly: just below the tie between 1 + 2^-23 and
    // 1 + 2^-22, so the float is 1 + 2^-23; the double sum rounds onto the tie itself and
    // fround's ties-to-even then picks 1 + 2^-22.
    const a = 1 - 2 ** -23;
    const b = 2 ** -24 * (1 + 2 ** -23);
    const c = 1 + 2 ** -23;
    for (const v of [a, b, c]) expect(Math.fround(v)).toBe(v);
    expect(Math.fround(a * b + c)).toBe(1 + 2 ** -22);
    expect(fmaf(a, b, c)).toBe(1 + 2 ** -23);
    expect(fmaf(-a, b, -c)).toBe(-(1 + 2 ** -23));
    expect(fmaf(3, Math.fround(1 / 3), 0)).toBe(Math.fround(3 * Math.fround(1 / 3)));
  });
});

describe('TorchCpuGenerator.randn equals torch.randn (float32, bit-exact)', () => {
  for (const c of reference.cases) {
    it(`seed ${c.seed}, shape [${c.shape.join(', ')}]`, () => {
      const g = new TorchCpuGenerator(BigInt(c.seed));
      expectSameDraw(g.randn(c.count), c);
    });
  }

  it(`consecutive draws on one generator (seed ${reference.sequence.seed}: ${reference.sequence.counts.join(', ')})`, () => {
    const g = new TorchCpuGenerator(BigInt(reference.sequence.seed));
    reference.sequence.counts.forEach((n, i) => expectSameDraw(g.randn(n), reference.sequence.draws[i]!));
  });

  it('accepts number and bigint seeds alike; the high 32 bits do not reach the state, as in torch', () => {
    const a = new TorchCpuGenerator(7).randn(40);
    expect(bits(new TorchCpuGenerator(7n).randn(40))).toEqual(bits(a));
    expect(bits(new TorchCpuGenerator(2 ** 32 + 7).randn(40))).toEqual(bits(a));
    expect(new TorchCpuGenerator(-1).initialSeed).toBe(2n ** 64n - 1n);
  });

  it('fillRandn draws the same values as randn', () => {
    const out = new Float32Array(50);
    new TorchCpuGenerator(3).fillRandn(out);
    expect(bits(out)).toEqual(bits(new TorchCpuGenerator(3).randn(50)));
  });

  it('rejects seeds and counts it cannot honour instead of rounding them', () => {
    expect(() => new TorchCpuGenerator(1.5)).toThrow(RangeError);
    expect(() => new TorchCpuGenerator(2 ** 60)).toThrow(RangeError);
    expect(() => new TorchCpuGenerator(1n << 64n)).toThrow(RangeError);
    expect(() => new TorchCpuGenerator(0).randn(-1)).toThrow(RangeError);
    expect(() => new TorchCpuGenerator(0).randn(2.5)).toThrow(RangeError);
  });
});
