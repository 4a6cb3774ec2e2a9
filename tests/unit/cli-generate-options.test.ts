import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeRgbaPng } from '../../app/formats/png-metadata.js';
import { checkMaskSize, parseControlSpec, parseNumber } from '../../main/cli/generate-options.js';

// Issue 17 item 9: the command line's own checks of its arguments.

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-cli-options-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('numbers on the command line', () => {
  it('takes decimal numbers only', () => {
    expect(parseNumber('16', 'seed', true)).toBe(16);
    expect(parseNumber(' 7 ', 'steps', true)).toBe(7);
    expect(parseNumber('0.75', 'strength')).toBe(0.75);
    expect(parseNumber('.5', 'strength')).toBe(0.5);
    expect(parseNumber('1e-2', 'cfg')).toBe(0.01);
    expect(parseNumber('-3', 'x', true)).toBe(-3);
  });

  it.each([
    ['0x10', true],
    ['0b1', true],
    ['0o7', true],
    ['1e3', true],
    ['1.5', true],
    ['', true],
    ['Infinity', false],
    ['NaN', false],
    ['0x10', false],
    ['1,5', false],
  ])('refuses %j (whole number: %s)', (text, integer) => {
    expect(() => parseNumber(text, 'seed', integer)).toThrow(/seed must be a (whole )?number written in decimal digits/);
  });
});

describe('--control TYPE:IMG[:WEIGHT[:START:END]]', () => {
  it('reads the numbers from the end, the image path keeping its colons', () => {
    expect(parseControlSpec('scribble:sketch.png')).toEqual({ type: 'scribble', image: 'sketch.png' });
    expect(parseControlSpec('canny:a.png:0.8')).toEqual({ type: 'canny', image: 'a.png', weight: 0.8 });
    expect(parseControlSpec('depth:C:\\img\\d.png:1:0.2:0.9')).toEqual({ type: 'depth', image: 'C:\\img\\d.png', weight: 1, start: 0.2, end: 0.9 });
    expect(parseControlSpec('depth:C:\\img\\d.png')).toEqual({ type: 'depth', image: 'C:\\img\\d.png' });
    expect(parseControlSpec('scribble:/tmp/a:b/sketch.png:0.5')).toEqual({ type: 'scribble', image: '/tmp/a:b/sketch.png', weight: 0.5 });
    expect(parseControlSpec('scribble:sketch:0.5')).toEqual({ type: 'scribble', image: 'sketch', weight: 0.5 });
  });

  it('names a number field that is not a number instead of taking it for part of the path', () => {
    expect(() => parseControlSpec('scribble:img.png:NaN')).toThrow(/WEIGHT "NaN" is not a number/);
    expect(() => parseControlSpec('scribble:img.png:0x1')).toThrow(/WEIGHT "0x1" is not a number/);
    expect(() => parseControlSpec('scribble:img.png:1:x:1')).toThrow(/START "x" is not a number/);
    expect(() => parseControlSpec('scribble:img.png:1:0:Infinity')).toThrow(/END "Infinity" is not a number/);
    expect(() => parseControlSpec('scribble:img.png:1:0')).toThrow(/give WEIGHT or WEIGHT:START:END/);
  });

  it('refuses an unknown type and a missing image', () => {
    expect(() => parseControlSpec('heat:a.png')).toThrow(/control type "heat" is not one of/);
    expect(() => parseControlSpec('canny')).toThrow(/missing the image/);
  });
});

describe('--mask and --init', () => {
  const png = (file: string, width: number, height: number) => {
    fs.writeFileSync(path.join(dir, file), encodeRgbaPng({ width, height, data: new Uint8Array(width * height * 4).fill(255) }));
    return path.join(dir, file);
  };

  it('refuses a mask of another size than the init image, as the help says', async () => {
    const init = png('init.png', 64, 48);
    await expect(checkMaskSize({ init, mask: png('mask-small.png', 32, 32) })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/--mask is 32×32 but --init is 64×48/) as string });
    await expect(checkMaskSize({ init, mask: png('mask-turned.png', 48, 64) })).rejects.toMatchObject({ code: 'bad_request' });
  });

  it('takes a mask of the same size, and leaves an unreadable file to the service to report', async () => {
    const init = png('init2.png', 64, 48);
    await expect(checkMaskSize({ init, mask: png('mask-same.png', 64, 48) })).resolves.toBeUndefined();
    fs.writeFileSync(path.join(dir, 'broken.png'), 'not an image');
    await expect(checkMaskSize({ init, mask: path.join(dir, 'broken.png') })).resolves.toBeUndefined();
    await expect(checkMaskSize({ init })).resolves.toBeUndefined();
  });
});
