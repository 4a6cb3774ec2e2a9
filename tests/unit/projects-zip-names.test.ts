import { describe, expect, it } from 'vitest';
import { pngDimensions } from '../../app/projects/document/index.js';
import { unsafeEntryName } from '../../app/projects/zip.js';
import { TINY_PNG, pngHeader } from '../fixtures/projects/craft.js';

describe('zip entry names', () => {
  it.each([
    ['manifest.json'],
    ['parts/a_b-1.png'],
    ['data/layer 1.png'],
    ['Thumbnails/'],
  ])('accepts %s', (name) => {
    expect(unsafeEntryName(name)).toBeNull();
  });

  it.each([
    ['', /empty name/],
    ['/etc/passwd', /absolute/],
    ['\\\\server\\share', /absolute/],
    ['C:evil', /absolute/],
    ['parts/../../x', /"\.\."/],
    ['..', /"\.\."/],
    ['parts\\x.png', /backslash/],
    ['parts/x\u0000.png', /control character/],
    ['parts//x.png', /empty or "\."/],
    ['./manifest.json', /empty or "\."/],
    ['a'.repeat(1025), /over 1024/],
  ])('refuses %j', (name, reason) => {
    expect(unsafeEntryName(name)).toMatch(reason);
  });
});

describe('PNG header size', () => {
  it('reads width and height from IHDR without decoding', () => {
    expect(pngDimensions(TINY_PNG)).toEqual({ width: 1, height: 1 });
    expect(pngDimensions(pngHeader(100_000, 7))).toEqual({ width: 100_000, height: 7 });
    expect(pngDimensions(pngHeader(0xffffffff, 1))).toEqual({ width: 0xffffffff, height: 1 });
    expect(() => pngDimensions(new Uint8Array(30))).toThrow(/Not a PNG/);
  });
});
