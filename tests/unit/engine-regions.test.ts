import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blendRegions, downsampleArea, regionBlends } from '../../app/engine/pipeline/regions.js';
import type { RgbaImage } from '../../app/engine/index.js';
import { parseRegionSpec, requestFromOptions } from '../../main/cli/generate-options.js';

// Regional prompts' arithmetic (app/engine/pipeline/regions.ts): masks → latent blends, and
// the blend of the conditional predictions. The pipeline runs are in
// tests/integration/engine-regions.test.ts.

/** White where x is in [x0, x1), black elsewhere. */
function columns(x0: number, x1: number, width = 64, height = 64): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = x >= x0 && x < x1 ? 255 : 0;
      data.set([v, v, v, 255], (y * width + x) * 4);
    }
  }
  return { width, height, data };
}

describe('regionBlends', () => {
  it('area-averages to latent size: a half-covered 8×8 block is 0.5', () => {
    const f = new Float32Array(16 * 8);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 12; x++) f[y * 16 + x] = 1;
    expect(Array.from(downsampleArea(f, 16, 8, 8))).toEqual([1, 0.5]);
  });

  it('without feather: 1 inside, 0 outside, × weight', () => {
    const [left] = regionBlends([columns(0, 32)], [{ weight: 0.5, feather: 0 }], 64, 64, 8);
    expect(left!.length).toBe(64);
    expect(left![0]).toBe(0.5);
    expect(left![3]).toBe(0.5);
    expect(left![4]).toBe(0);
  });

  it('feathers across the edge and stays 0 and 1 far from it', () => {
    const [left] = regionBlends([columns(0, 32)], [{ weight: 1, feather: 8 }], 64, 64, 8);
    expect(left![0]).toBeCloseTo(1, 5);
    expect(left![7]).toBeLessThan(0.01);
    expect(left![3]).toBeGreaterThan(0.5);
    expect(left![3]).toBeLessThan(1);
    expect(left![4]).toBeGreaterThan(0);
    expect(left![4]).toBeLessThan(0.5);
  });

  it('shares overlaps so the masks sum to at most 1', () => {
    const [a, b] = regionBlends([columns(0, 48), columns(16, 64)], [{ weight: 1, feather: 0 }, { weight: 1, feather: 0 }], 64, 64, 8);
    expect(a![0]).toBe(1);
    expect(b![0]).toBe(0);
    expect(a![3]).toBe(0.5);
    expect(b![3]).toBe(0.5);
    expect(b![7]).toBe(1);
  });

  it('refuses a mask of another size', () => {
    expect(() => regionBlends([columns(0, 8, 32, 32)], [{ weight: 1, feather: 0 }], 64, 64, 8)).toThrow(/32×32/);
  });
});

describe('blendRegions', () => {
  it('base where no region reaches, the region where it covers fully, a mix in between, per channel', () => {
    const n = 3;
    const base = Float32Array.from([1, 1, 1, 10, 10, 10]);
    const region = Float32Array.from([5, 5, 5, 20, 20, 20]);
    const out = blendRegions(base, [region], [Float32Array.from([0, 1, 0.25])], n);
    expect(Array.from(out)).toEqual([1, 5, 2, 10, 20, 12.5]);
    expect(Array.from(base)).toEqual([1, 1, 1, 10, 10, 10]);
  });

  it('weight above 1 pushes past the region prediction; two regions add their parts', () => {
    const base = Float32Array.from([0, 0]);
    expect(Array.from(blendRegions(base, [Float32Array.from([2, 2])], [Float32Array.from([1.5, 0])], 2))).toEqual([3, 0]);
    const two = blendRegions(base, [Float32Array.from([2, 2]), Float32Array.from([4, 4])], [Float32Array.from([0.5, 0]), Float32Array.from([0.5, 1])], 2);
    expect(Array.from(two)).toEqual([3, 4]);
  });
});

describe('--region MASK:PROMPT[:WEIGHT]', () => {
  it('takes the mask up to its extension, a trailing number as the weight, colons in the prompt', () => {
    expect(parseRegionSpec('left.png:a red house')).toEqual({ mask: 'left.png', prompt: 'a red house' });
    expect(parseRegionSpec('left.png:a red house:0.8')).toEqual({ mask: 'left.png', prompt: 'a red house', weight: 0.8 });
    expect(parseRegionSpec('C:\\m\\r.PNG:style: ink:1.5')).toEqual({ mask: 'C:\\m\\r.PNG', prompt: 'style: ink', weight: 1.5 });
    expect(parseRegionSpec('r.png:route 66')).toEqual({ mask: 'r.png', prompt: 'route 66' });
  });

  it('becomes GenerationRequest.regions: the mask by path, weight 1 unless given', () => {
    const mask = 'tests/fixtures/images/a1111-txt2img.png';
    const request = requestFromOptions({ model: 'starter', prompt: 'two houses', control: [], controlnet: [], device: 'cpu', out: '.', region: [`${mask}:a red house`, `${mask}:a blue house:0.5`] });
    expect(request.regions).toEqual([
      { mask: { path: path.resolve(mask) }, prompt: 'a red house', weight: 1, feather: 16 },
      { mask: { path: path.resolve(mask) }, prompt: 'a blue house', weight: 0.5, feather: 16 },
    ]);
    expect(() => requestFromOptions({ model: 'starter', prompt: 'x', control: [], controlnet: [], device: 'cpu', out: '.', region: ['missing.png:a house'] })).toThrow(/region mask .*missing\.png does not exist/);
    expect(() => requestFromOptions({ model: 'starter', prompt: 'x', control: [], controlnet: [], device: 'cpu', out: '.', region: [`${mask}:a house:3`] })).toThrow(/regions\.0\.weight/);
  });

  it('refuses a spec without an image or without a prompt', () => {
    expect(() => parseRegionSpec('a red house')).toThrow(/MASK:PROMPT/);
    expect(() => parseRegionSpec('r.png::0.5')).toThrow(/prompt is empty/);
  });
});
