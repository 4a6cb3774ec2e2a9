import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../app/contract/index.js';
import {
  MAX_IMAGE_SIDE,
  compositeOver,
  createImage,
  cropImage,
  decodeImage,
  encodePng,
  flattenOnto,
  pasteImage,
  resizeImage,
  resolveImageRef,
} from '../../app/engine/image.js';

function gradient(w: number, h: number) {
  const img = createImage(w, h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) img.data.set([x * 7 % 256, y * 11 % 256, (x + y) % 256, 128 + (x % 2) * 127], (y * w + x) * 4);
  return img;
}

/** A PNG that only claims a size: its pixel data is a few bytes, far short of what it claims. */
function pngHeaderOnly(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.alloc(16))), chunk('IEND', Buffer.alloc(0))]);
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (error) {
    return error instanceof ApiError ? `${error.code}: ${error.message}` : `untyped: ${String(error)}`;
  }
}

describe('image I/O', () => {
  it('round-trips RGBA through PNG exactly', async () => {
    const img = gradient(37, 23);
    const back = await decodeImage(await encodePng(img));
    expect(back.width).toBe(37);
    expect(back.height).toBe(23);
    expect(Buffer.from(back.data).equals(Buffer.from(img.data))).toBe(true);
  });

  it('decodes RGB JPEG and gray PNG to opaque RGBA', async () => {
    const gray = await sharp({ create: { width: 9, height: 5, channels: 3, background: { r: 90, g: 90, b: 90 } } }).toColourspace('b-w').png().toBuffer();
    const img = await decodeImage(gray);
    expect(img.data.length).toBe(9 * 5 * 4);
    expect(Array.from(img.data.subarray(0, 4))).toEqual([90, 90, 90, 255]);
    const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 10, b: 10 } } }).jpeg().toBuffer();
    const j = await decodeImage(jpeg);
    expect(j.data[3]).toBe(255);
    expect(j.data[0]!).toBeGreaterThan(150);
  });

  it('refuses images over the size limits before decoding, naming the size', async () => {
    expect(await codeOf(decodeImage(pngHeaderOnly(MAX_IMAGE_SIDE + 1, 16)))).toMatch(/^invalid_file: .*8193×16.*8192 pixels per side/);
    expect(await codeOf(decodeImage(pngHeaderOnly(8192, 8192)))).toMatch(/^invalid_file: .*67\.1 megapixels.*64 MP/);
  });

  it('refuses garbage and empty input with invalid_file, a missing file with not_found', async () => {
    expect(await codeOf(decodeImage(Buffer.from('not an image at all')))).toMatch(/^invalid_file: The image is not a readable image/);
    expect(await codeOf(decodeImage(new Uint8Array(0), { label: 'mask' }))).toMatch(/^invalid_file: The mask is empty/);
    expect(await codeOf(decodeImage('/nonexistent/atelier.png'))).toMatch(/^not_found/);
  });

  it('resolves each ImageRef kind', async () => {
    const img = gradient(6, 4);
    const png = await encodePng(img);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-img-'));
    try {
      const file = path.join(dir, 'a.png');
      fs.writeFileSync(file, png);
      const sha = 'a'.repeat(64);
      const fromPath = await resolveImageRef({ path: file });
      const fromB64 = await resolveImageRef({ png: png.toString('base64') });
      const fromDataUrl = await resolveImageRef({ png: `data:image/png;base64,${png.toString('base64')}` });
      const fromSha = await resolveImageRef({ sha256: sha }, { resolveSha256: (s) => (s === sha ? file : undefined) });
      for (const r of [fromPath, fromB64, fromDataUrl, fromSha]) expect(Buffer.from(r.data).equals(Buffer.from(img.data))).toBe(true);
      expect(await codeOf(resolveImageRef({ sha256: 'b'.repeat(64) }, { resolveSha256: () => undefined, label: 'init image' }))).toMatch(/^not_found: The init image b+ is not in the library/);
      expect(await codeOf(resolveImageRef({ sha256: sha }))).toMatch(/^bad_request/);
      expect(await codeOf(resolveImageRef({ png: '!!not base64!!' }))).toMatch(/^bad_request/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('resizes exact, cover and fit to the asked size; fit pads with transparency', async () => {
    const wide = createImage(40, 20, [255, 0, 0, 255]);
    for (const fit of ['exact', 'cover', 'fit'] as const) {
      const r = await resizeImage(wide, 16, 16, fit);
      expect([r.width, r.height]).toEqual([16, 16]);
    }
    const fitted = await resizeImage(wide, 16, 16, 'fit');
    expect(fitted.data[3]).toBe(0); // top-left corner is padding
    expect(Array.from(fitted.data.subarray((8 * 16 + 8) * 4, (8 * 16 + 8) * 4 + 4))).toEqual([255, 0, 0, 255]);
    const covered = await resizeImage(wide, 16, 16, 'cover');
    expect(covered.data[3]).toBe(255);
    const checker = createImage(4, 4);
    for (let p = 0; p < 16; p++) checker.data.set((p + Math.floor(p / 4)) % 2 ? [255, 255, 255, 255] : [0, 0, 0, 255], p * 4);
    const nearest = await resizeImage(checker, 8, 8, 'exact', 'nearest');
    expect(new Set(Array.from(nearest.data))).toEqual(new Set([0, 255]));
  });

  it('crops, pastes (plain and weighted) and refuses a crop outside the image', () => {
    const img = gradient(10, 8);
    const c = cropImage(img, { x: 2, y: 3, width: 4, height: 2 });
    expect(Array.from(c.data.subarray(0, 4))).toEqual(Array.from(img.data.subarray((3 * 10 + 2) * 4, (3 * 10 + 2) * 4 + 4)));
    expect(() => cropImage(img, { x: 8, y: 0, width: 4, height: 2 })).toThrow(/does not lie inside/);

    const base = createImage(4, 4, [0, 0, 0, 255]);
    const white = createImage(2, 2, [255, 255, 255, 255]);
    const pasted = pasteImage(base, white, 3, 3); // clipped to one pixel
    expect(Array.from(pasted.data.subarray(15 * 4, 16 * 4))).toEqual([255, 255, 255, 255]);
    expect(pasted.data[14 * 4]).toBe(0);
    const half = pasteImage(base, white, 0, 0, new Float32Array([0.5, 0, 1, 0]));
    expect([half.data[0], half.data[4], half.data[4 * 4]]).toEqual([128, 0, 255]);
  });

  it('composites straight-alpha "over" per Porter–Duff', () => {
    const bottom = createImage(1, 1, [0, 0, 255, 255]);
    const top = createImage(1, 1, [255, 0, 0, 128]);
    expect(Array.from(compositeOver(bottom, top).data)).toEqual([128, 0, 127, 255]);
    expect(Array.from(flattenOnto(createImage(1, 1, [0, 0, 0, 0])).data)).toEqual([255, 255, 255, 255]);
    const clear = compositeOver(createImage(1, 1), createImage(1, 1));
    expect(Array.from(clear.data)).toEqual([0, 0, 0, 0]);
  });
});
