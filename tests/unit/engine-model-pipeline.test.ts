import { describe, expect, it } from 'vitest';
import { residualPlan, SD15_PREVIEW } from '../../app/engine/model/layout.js';
import { controlActive } from '../../app/engine/pipeline/run.js';
import { downsampleNearest, imageToSigned, latentToPreview, signedToImage } from '../../app/engine/pipeline/tensor.js';
import { applyEmphasis } from '../../app/engine/pipeline/text.js';
import { parseControlSpec } from '../../main/cli/generate.js';

describe('ControlNet residual plan', () => {
  it("matches SD1.5's residual shapes (docs/model-formats.md)", () => {
    const plan = residualPlan({ blockOutChannels: [320, 640, 1280, 1280], layersPerBlock: 2 });
    const at64 = plan.down.map((r) => `${r.channels}@${64 / r.scale}`);
    expect(at64).toEqual(['320@64', '320@64', '320@64', '320@32', '640@32', '640@32', '640@16', '1280@16', '1280@16', '1280@8', '1280@8', '1280@8']);
    expect(plan.mid).toEqual({ channels: 1280, scale: 8 });
  });
});

describe('ControlNet start/end window (diffusers controlnet_keep)', () => {
  it('acts on steps whose span lies inside [start, end]', () => {
    const active = (start: number, end: number) => Array.from({ length: 10 }, (_, i) => (controlActive(i, 10, start, end) ? 1 : 0)).join('');
    expect(active(0, 1)).toBe('1111111111');
    expect(active(0, 0.5)).toBe('1111100000');
    expect(active(0.2, 1)).toBe('0011111111');
    expect(active(1, 1)).toBe('0000000000');
  });
});

describe('A1111 emphasis on hidden states', () => {
  it('scales tokens by their weights and restores the mean', () => {
    const dim = 2;
    const hidden = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const out = applyEmphasis(hidden, [1, 2, 1], dim);
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(out)).toBeCloseTo(mean(hidden), 5);
    // token 1 doubled relative to tokens 0 and 2
    expect(out[2]! / out[0]!).toBeCloseTo((3 * 2) / 1, 5);
    expect(out[4]! / out[0]!).toBeCloseTo(5, 5);
    expect(applyEmphasis(hidden, [1, 1, 1], dim)).toBe(hidden);
  });
});

describe('tensor conversions', () => {
  it('RGBA ⇄ [-1, 1] CHW round-trips 8-bit values', () => {
    const img = { width: 2, height: 1, data: Uint8Array.from([0, 128, 255, 255, 10, 20, 30, 255]) };
    const t = imageToSigned(img);
    expect(Array.from(t.slice(0, 2))).toEqual([-1, (10 / 255) * 2 - 1].map(Math.fround));
    expect(Array.from(signedToImage(t, 2, 1).data)).toEqual(Array.from(img.data));
  });

  it('nearest downsampling picks floor(dst · factor), as torch interpolate', () => {
    const field = Float32Array.from({ length: 16 }, (_, i) => i);
    expect(Array.from(downsampleNearest(field, 4, 4, 2))).toEqual([0, 2, 8, 10]);
  });

  it('latent preview maps each latent pixel through the 4×3 factors', () => {
    const latents = Float32Array.from([1, 0, 0, 0]); // one pixel, channel 0 = 1
    const px = latentToPreview(latents, 1, 1, SD15_PREVIEW).data;
    const expected = SD15_PREVIEW.factors[0]!.map((f) => Math.round(((f + 1) / 2) * 255));
    expect(Array.from(px.slice(0, 3))).toEqual(expected);
    expect(px[3]).toBe(255);
  });
});

describe('--control TYPE:IMG[:WEIGHT[:START:END]]', () => {
  it('parses weights and windows from the end, so paths may hold colons', () => {
    expect(parseControlSpec('scribble:sketch.png')).toEqual({ type: 'scribble', image: 'sketch.png' });
    expect(parseControlSpec('canny:a.png:0.8')).toEqual({ type: 'canny', image: 'a.png', weight: 0.8 });
    expect(parseControlSpec('depth:C:\\img\\d.png:1:0.2:0.9')).toEqual({ type: 'depth', image: 'C:\\img\\d.png', weight: 1, start: 0.2, end: 0.9 });
    expect(() => parseControlSpec('heat:a.png')).toThrow(/control type "heat" is not one of/);
    expect(() => parseControlSpec('canny')).toThrow(/missing the image/);
  });
});
