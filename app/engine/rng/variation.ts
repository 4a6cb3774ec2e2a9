import { TorchCpuGenerator } from './torch-generator.js';

// Variation seeds as A1111 makes them (modules/processing.py: create_random_tensors and
// slerp): the starting noise of a seed, spherically blended toward another seed's. The
// request field is `variation` in app/contract/generation.ts.

/** The seeds candidate k of a request draws its noise from. */
export interface CandidateSeeds {
  /** The main seed: its generator also draws img2img's latent sample and ancestral noise. */
  seed: number;
  /** The variation seed and how far toward it the noise moves; absent without a variation. */
  variation?: { seed: number; strength: number };
}

/**
 * A1111's batch rule: without a variation, candidate k uses seed + k; with one (strength
 * above 0), every candidate keeps the seed and candidate k uses variation seed + k.
 */
export function candidateSeeds(request: { seed: number; variation?: { seed: number; strength: number } | undefined }, k: number): CandidateSeeds {
  const v = request.variation;
  if (!v || v.strength <= 0) return { seed: request.seed + k };
  return { seed: request.seed, variation: { seed: v.seed + k, strength: v.strength } };
}

/**
 * `slerp(val, low, high)` of A1111 on noise of shape (C, H, W) with C = channels: norms and
 * dot products are taken along dim 1 (the rows), so each (channel, column) line is blended
 * on its own, as there. Computed in double and stored as float32 (torch computes in
 * float32: equal up to float rounding). When the two are nearly parallel A1111 falls back
 * to `low * val + high * (1 - val)` (sic: its weights are swapped there); kept as is.
 */
export function slerpNoise(val: number, low: Float32Array, high: Float32Array, channels: number, height: number, width: number): Float32Array {
  const size = channels * height * width;
  if (low.length !== size || high.length !== size) throw new RangeError(`noise of ${low.length} and ${high.length} values for a ${channels}×${height}×${width} shape`);
  const lines = channels * width;
  const lowNorm = new Float64Array(lines);
  const highNorm = new Float64Array(lines);
  const dot = new Float64Array(lines);
  const at = (c: number, y: number, x: number) => (c * height + y) * width + x;
  for (let c = 0; c < channels; c++) {
    for (let x = 0; x < width; x++) {
      let l2 = 0;
      let h2 = 0;
      let lh = 0;
      for (let y = 0; y < height; y++) {
        const a = low[at(c, y, x)]!;
        const b = high[at(c, y, x)]!;
        l2 += a * a;
        h2 += b * b;
        lh += a * b;
      }
      const line = c * width + x;
      lowNorm[line] = Math.sqrt(l2);
      highNorm[line] = Math.sqrt(h2);
      dot[line] = lh / (lowNorm[line]! * highNorm[line]! || 1);
    }
  }
  let mean = 0;
  for (const d of dot) mean += d;
  mean /= lines;
  const out = new Float32Array(size);
  if (mean > 0.9995) {
    for (let i = 0; i < size; i++) out[i] = low[i]! * val + high[i]! * (1 - val);
    return out;
  }
  for (let c = 0; c < channels; c++) {
    for (let x = 0; x < width; x++) {
      const omega = Math.acos(Math.max(-1, Math.min(1, dot[c * width + x]!)));
      const so = Math.sin(omega);
      // A line whose two noises are parallel: nothing to rotate (A1111 would divide by zero).
      if (so < 1e-12) {
        for (let y = 0; y < height; y++) out[at(c, y, x)] = low[at(c, y, x)]!;
        continue;
      }
      const wl = Math.sin((1 - val) * omega) / so;
      const wh = Math.sin(val * omega) / so;
      for (let y = 0; y < height; y++) {
        const i = at(c, y, x);
        out[i] = wl * low[i]! + wh * high[i]!;
      }
    }
  }
  return out;
}

/**
 * The starting noise of one candidate: `generator.randn` for the main seed (the generator
 * goes on to draw the rest of the run), blended toward the variation seed's own noise. A1111
 * draws the variation noise from a fresh generator of its own, so the main generator's
 * stream is the same with or without a variation.
 */
export function candidateNoise(generator: TorchCpuGenerator, seeds: CandidateSeeds, channels: number, height: number, width: number): Float32Array {
  const noise = generator.randn(channels * height * width);
  if (!seeds.variation) return noise;
  const sub = new TorchCpuGenerator(seeds.variation.seed).randn(channels * height * width);
  return slerpNoise(seeds.variation.strength, noise, sub, channels, height, width);
}
