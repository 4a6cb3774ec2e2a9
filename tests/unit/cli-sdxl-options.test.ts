import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCrop, parseRefinerSpec, parseSize, requestFromOptions } from '../../main/cli/generate-options.js';

// `atelier generate`'s SDXL flags: --refiner MODEL[:SWITCH] and the micro-conditioning.

const XL = path.resolve('tests/fixtures/models/sdxl-tiny');
const REFINER = path.resolve('tests/fixtures/models/sdxl-refiner-tiny');

describe('--refiner MODEL[:SWITCH]', () => {
  it('takes a trailing number as the switch, and keeps a drive letter\'s colon', () => {
    expect(parseRefinerSpec('refiner-id')).toEqual({ model: 'refiner-id' });
    expect(parseRefinerSpec('/m/refiner:0.7')).toEqual({ model: '/m/refiner', switchAt: 0.7 });
    expect(parseRefinerSpec('C:\\models\\refiner')).toEqual({ model: 'C:\\models\\refiner' });
    expect(parseRefinerSpec('C:\\models\\refiner:.75')).toEqual({ model: 'C:\\models\\refiner', switchAt: 0.75 });
    expect(() => parseRefinerSpec('/m/refiner:1')).toThrow(/must lie between 0 and 1/);
    expect(() => parseRefinerSpec('')).toThrow(/needs a model/);
  });

  it('sends a folder as its absolute path and anything else as a registered id', () => {
    const base = { model: XL, prompt: 'p', seed: 1, control: [], controlnet: [], device: 'cpu' as const, out: '.' };
    expect(requestFromOptions({ ...base, refiner: `${path.relative(process.cwd(), REFINER)}:0.6` }).refiner).toEqual({ model: REFINER, switchAt: 0.6 });
    expect(requestFromOptions({ ...base, refiner: 'm_0123456789ab' }).refiner).toEqual({ model: 'm_0123456789ab', switchAt: 0.8 });
  });
});

describe('micro-conditioning flags', () => {
  it('parse WxH and TOP,LEFT, and become request.sdxlConditioning only when given', () => {
    expect(parseSize('--original-size')('1024x768')).toEqual({ width: 1024, height: 768 });
    expect(parseSize('--target-size')('640×480')).toEqual({ width: 640, height: 480 });
    expect(() => parseSize('--original-size')('1024')).toThrow(/--original-size must be WIDTHxHEIGHT/);
    expect(parseCrop('16,40')).toEqual({ top: 16, left: 40 });
    expect(() => parseCrop('16')).toThrow(/TOP,LEFT/);
    const base = { model: XL, prompt: 'p', seed: 1, control: [], controlnet: [], device: 'cpu' as const, out: '.' };
    expect(requestFromOptions(base).sdxlConditioning).toBeUndefined();
    expect(requestFromOptions({ ...base, cropTopLeft: { top: 8, left: 0 }, aestheticScore: 7 }).sdxlConditioning).toEqual({ crop: { top: 8, left: 0 }, aestheticScore: 7 });
  });
});
