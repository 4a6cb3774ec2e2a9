import zlib from 'node:zlib';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { GenerationRequest } from '../../app/contract/generation.js';
import { formatA1111Parameters } from '../../app/formats/a1111.js';
import { PNG_SIGNATURE, PngMetadataError, encodeRgbaPng, insertTextChunks, readPngMetadata, stripTextChunks, textChunk } from '../../app/formats/png-metadata.js';
import { ATELIER_CHUNK, stampPng } from '../../app/formats/stamp.js';

function rgba(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 0xff;
  return data;
}

function rawChunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(zlib.crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function ihdr(width: number, height: number): Buffer {
  const d = Buffer.alloc(13);
  d.writeUInt32BE(width, 0);
  d.writeUInt32BE(height, 4);
  d[8] = 8;
  d[9] = 6;
  return rawChunk('IHDR', d);
}

const tinyPng = (): Buffer => PNG.sync.write(Object.assign(new PNG({ width: 2, height: 2 }), { data: Buffer.from(rgba(2, 2)) }));

function expectRefused(bytes: Buffer, reason: string, limits = {}): void {
  try {
    readPngMetadata(bytes, limits);
  } catch (error) {
    expect(error).toBeInstanceOf(PngMetadataError);
    expect((error as PngMetadataError).reason).toBe(reason);
    return;
  }
  throw new Error(`expected refusal with ${reason}`);
}

describe('formatA1111Parameters', () => {
  it('writes the A1111 infotext layout', () => {
    const request = GenerationRequest.parse({ model: 'starter', prompt: 'a red fox, forest', negativePrompt: 'blurry', sampler: 'dpmpp_2m_karras', steps: 25, cfg: 6.5, seed: 42 });
    const text = formatA1111Parameters(request, { seed: 43, modelName: 'starter', modelHash: 'abcdef0123456789', appVersion: '0.1.0', width: 512, height: 768 });
    expect(text).toBe(
      'a red fox, forest\nNegative prompt: blurry\nSteps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 43, Size: 512x768, Model hash: abcdef0123, Model: starter, Version: atelier-0.1.0',
    );
  });

  it('adds denoising strength, inpaint and quoted ControlNet fields', () => {
    const request = GenerationRequest.parse({
      model: 'm',
      prompt: 'p',
      seed: 1,
      strength: 0.5,
      init: { sha256: 'a'.repeat(64) },
      inpaint: { mask: { sha256: 'b'.repeat(64) }, onlyMasked: true },
      controls: [{ type: 'canny', model: 'cn-canny', image: { path: '/x.png' }, preprocess: 'canny' }],
    });
    const text = formatA1111Parameters(request, { seed: 1, width: 64, height: 64 });
    expect(text.split('\n')).toHaveLength(2);
    expect(text).toContain('Denoising strength: 0.5, Mask blur: 4, Inpaint area: Only masked, Masked area padding: 32');
    expect(text).toContain('ControlNet 0: "Module: canny, Model: cn-canny, Weight: 1, Guidance Start: 0, Guidance End: 1"');
  });
});

describe('stampPng / readPngMetadata', () => {
  const request = GenerationRequest.parse({ model: 'starter', prompt: 'café ☕', seed: 5, batch: 4, steps: 3 });
  const stamp = { request, seed: 7, width: 5, height: 3, index: 2, generationId: 'g_1', candidateId: 'c_1', modelName: 'starter', appVersion: '0.1.0' };

  it('round-trips pixels, the A1111 parameters and the record narrowed to this image', () => {
    const data = rgba(5, 3);
    const png = stampPng({ width: 5, height: 3, data }, stamp);
    const meta = readPngMetadata(png);
    expect(meta.width).toBe(5);
    expect(meta.height).toBe(3);
    expect(meta.chunks.parameters).toBe(formatA1111Parameters(request, { seed: 7, width: 5, height: 3, modelName: 'starter', appVersion: '0.1.0' }));
    expect(JSON.parse(meta.chunks[ATELIER_CHUNK]!)).toEqual({
      format: 'atelier',
      version: 1,
      request: { ...request, seed: 7, batch: 1 },
      index: 2,
      generationId: 'g_1',
      candidateId: 'c_1',
      modelName: 'starter',
      appVersion: '0.1.0',
    });
    const decoded = PNG.sync.read(png);
    expect(Buffer.from(decoded.data).equals(Buffer.from(data))).toBe(true);
  });

  it('stamps pixels and their encoded PNG to the same bytes, replacing any earlier text', () => {
    const image = { width: 5, height: 3, data: rgba(5, 3) };
    const fromPixels = stampPng(image, stamp);
    const earlier = insertTextChunks(encodeRgbaPng(image), [textChunk('parameters', 'someone else'), textChunk('Comment', 'x')]);
    const fromPng = stampPng(earlier, stamp);
    expect(fromPng.equals(fromPixels)).toBe(true);
    expect(Object.keys(readPngMetadata(fromPng).chunks)).toEqual(['parameters', ATELIER_CHUNK]);
    expect(stripTextChunks(fromPng).equals(encodeRgbaPng(image))).toBe(true);
  });

  it('refuses bytes that are not a PNG', () => {
    expect(() => stampPng(Buffer.from('GIF89a'), stamp)).toThrow(/PNG bytes or RGBA pixels/);
  });

  it('stores non-Latin-1 parameters as iTXt and reads zTXt and compressed iTXt', () => {
    const png = insertTextChunks(tinyPng(), [
      textChunk('parameters', '猫 on a mat'),
      rawChunk('zTXt', Buffer.concat([Buffer.from('Comment\0\0', 'latin1'), zlib.deflateSync(Buffer.from('zipped', 'latin1'))])),
      textChunk('workflow', '{"a":"ü"}', { compress: true }),
    ]);
    const meta = readPngMetadata(png);
    expect(meta.chunks).toEqual({ parameters: '猫 on a mat', Comment: 'zipped', workflow: '{"a":"ü"}' });
  });

  it('refuses a non-PNG', () => expectRefused(Buffer.from('GIF89a not a png at all'), 'not_png'));
  it('refuses a truncated PNG', () => {
    const png = tinyPng();
    expectRefused(png.subarray(0, png.length - 20), 'truncated');
  });
  it('refuses a corrupt chunk (bad CRC)', () => {
    const png = Buffer.from(tinyPng());
    png[20] = png[20]! ^ 0xff; // inside IHDR's data
    expectRefused(png, 'bad_crc');
  });
  it('refuses huge declared dimensions before decoding', () => {
    const png = Buffer.concat([PNG_SIGNATURE, ihdr(100_000, 100_000), rawChunk('IDAT', Buffer.alloc(0)), rawChunk('IEND', Buffer.alloc(0))]);
    expectRefused(png, 'too_large');
  });
  it('refuses an oversized text chunk', () => {
    const png = insertTextChunks(tinyPng(), [textChunk('parameters', 'x'.repeat(2000))]);
    expectRefused(png, 'text_too_large', { maxTextChunkBytes: 1000 });
  });
  it('refuses a text zip bomb without inflating it all', () => {
    const bomb = zlib.deflateSync(Buffer.alloc(64 * 1024 * 1024, 0x61));
    const png = insertTextChunks(tinyPng(), [rawChunk('zTXt', Buffer.concat([Buffer.from('bomb\0\0', 'latin1'), bomb]))]);
    expectRefused(png, 'text_too_large');
  });
  it('refuses an endless run of text chunks', () => {
    const many = Array.from({ length: 300 }, (_, i) => textChunk(`k${i}`, 'v'));
    expectRefused(insertTextChunks(tinyPng(), many), 'too_many_chunks', { maxChunks: 100 });
    expectRefused(insertTextChunks(tinyPng(), many), 'text_too_large', { maxTotalTextBytes: 100 });
  });
  it('refuses a chunk length that runs past the end of the file', () => {
    const png = Buffer.from(tinyPng());
    png.writeUInt32BE(0x7ffffff0, 33); // the chunk after IHDR
    expectRefused(png, 'truncated');
  });
});
