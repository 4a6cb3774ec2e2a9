/**
 * PNG text metadata: read anyone's text chunks safely, and write ours.
 *
 *   readPngMetadata(bytes, limits?) → { width, height, chunks } or a PngMetadataError
 *   textChunk(keyword, text) / insertTextChunks(png, chunks) / stripTextChunks(png)
 *   encodeRgbaPng(rgba) → PNG bytes (no text yet; stamp.ts adds Atelier's metadata)
 *
 * readPngMetadata is where hostile files stop: it walks the chunk list by hand (signature,
 * lengths, CRCs, IHDR sanity and size limits, per-chunk and total text limits, a cap on the
 * number of chunks, a capped inflate for zTXt/compressed iTXt) and never decodes a pixel.
 * Chunk layout: PNG spec (ISO/IEC 15948, W3C PNG 3rd ed.) §5.3 (chunk layout), §11.2.1
 * (IHDR), §11.3.3 (tEXt, zTXt, iTXt).
 */
import zlib from 'node:zlib';
import { PNG } from 'pngjs';

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface PngLimits {
  /** Largest accepted width and height, each (pixels). */
  maxDimension: number;
  /** Largest accepted width × height: refuses decompression bombs before decoding. */
  maxPixels: number;
  /** Largest accepted file. */
  maxFileBytes: number;
  /** Largest text of one text chunk, after inflating. */
  maxTextChunkBytes: number;
  /** Largest text of all text chunks together, after inflating. */
  maxTotalTextBytes: number;
  /** Most chunks of any kind: an endless run of tiny chunks is refused. */
  maxChunks: number;
}

export const DEFAULT_PNG_LIMITS: Readonly<PngLimits> = Object.freeze({
  maxDimension: 16_384,
  maxPixels: 16_384 * 16_384,
  maxFileBytes: 512 * 1024 * 1024,
  // ComfyUI workflows of big graphs run to a few hundred KiB; 4 MiB leaves room.
  maxTextChunkBytes: 4 * 1024 * 1024,
  maxTotalTextBytes: 16 * 1024 * 1024,
  maxChunks: 100_000,
});

/** A file refused as malformed or hostile; `reason` is a short machine-friendly tag. */
export class PngMetadataError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = 'PngMetadataError';
    this.reason = reason;
  }
}

export interface PngMetadata {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  /** keyword → text of every tEXt, zTXt and iTXt chunk (the first one wins on repeats). */
  chunks: Record<string, string>;
}

const TEXT_TYPES = new Set(['tEXt', 'zTXt', 'iTXt']);
// Allowed bit depths per colour type (PNG spec table 11.1).
const BIT_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

/**
 * Reads the size and the text chunks of a PNG, refusing hostile input with a
 * PngMetadataError before any pixel is decoded.
 */
export function readPngMetadata(bytes: Buffer | Uint8Array, limits: Partial<PngLimits> = {}): PngMetadata {
  const lim = { ...DEFAULT_PNG_LIMITS, ...limits };
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length > lim.maxFileBytes) throw new PngMetadataError('too_large', `File is ${buf.length} bytes; the limit is ${lim.maxFileBytes}`);
  if (buf.length < PNG_SIGNATURE.length || !buf.subarray(0, 8).equals(PNG_SIGNATURE)) {
    throw new PngMetadataError('not_png', 'Not a PNG file (the PNG signature is missing)');
  }
  let offset = 8;
  let chunkCount = 0;
  let totalText = 0;
  let header: { width: number; height: number; bitDepth: number; colorType: number } | undefined;
  let sawIdat = false;
  const chunks: Record<string, string> = {};

  for (;;) {
    if (offset + 12 > buf.length) throw new PngMetadataError('truncated', `PNG is truncated at byte ${offset} (no IEND chunk)`);
    const length = buf.readUInt32BE(offset);
    const type = buf.toString('latin1', offset + 4, offset + 8);
    if (length > 0x7fffffff) throw new PngMetadataError('bad_chunk', `Chunk at byte ${offset} declares an impossible length ${length}`);
    if (!/^[A-Za-z]{4}$/.test(type)) throw new PngMetadataError('bad_chunk', `Chunk at byte ${offset} has an invalid type`);
    if (++chunkCount > lim.maxChunks) throw new PngMetadataError('too_many_chunks', `PNG has more than ${lim.maxChunks} chunks`);
    const dataStart = offset + 8;
    const dataEnd = dataStart + length;
    if (dataEnd + 4 > buf.length) throw new PngMetadataError('truncated', `PNG is truncated inside its ${type} chunk`);
    if (TEXT_TYPES.has(type) && length > lim.maxTextChunkBytes) {
      throw new PngMetadataError('text_too_large', `${type} chunk of ${length} bytes exceeds the ${lim.maxTextChunkBytes}-byte limit`);
    }
    const expectedCrc = buf.readUInt32BE(dataEnd);
    const actualCrc = zlib.crc32(buf.subarray(offset + 4, dataEnd));
    if (expectedCrc !== actualCrc) throw new PngMetadataError('bad_crc', `${type} chunk at byte ${offset} fails its CRC check (corrupt file)`);
    const data = buf.subarray(dataStart, dataEnd);

    if (chunkCount === 1) {
      if (type !== 'IHDR' || length !== 13) throw new PngMetadataError('bad_header', 'PNG does not start with a valid IHDR chunk');
      header = parseHeader(data, lim);
    } else if (type === 'IHDR') {
      throw new PngMetadataError('bad_header', 'PNG has a second IHDR chunk');
    } else if (type === 'IDAT') {
      sawIdat = true;
    } else if (type === 'IEND') {
      break;
    } else if (TEXT_TYPES.has(type)) {
      const remaining = lim.maxTotalTextBytes - totalText;
      let parsed: { keyword: string; text: string };
      try {
        parsed = parseTextChunk(type, data, Math.min(lim.maxTextChunkBytes, remaining));
      } catch (error) {
        if (error instanceof PngMetadataError && error.reason === 'text_too_large' && remaining < lim.maxTextChunkBytes) {
          throw new PngMetadataError('text_too_large', `Text chunks exceed ${lim.maxTotalTextBytes} bytes in total`);
        }
        throw error;
      }
      const { keyword, text } = parsed;
      totalText += Buffer.byteLength(text, 'utf8');
      if (totalText > lim.maxTotalTextBytes) throw new PngMetadataError('text_too_large', `Text chunks exceed ${lim.maxTotalTextBytes} bytes in total`);
      if (!Object.hasOwn(chunks, keyword)) chunks[keyword] = text;
    }
    offset = dataEnd + 4;
  }
  if (!header) throw new PngMetadataError('bad_header', 'PNG has no IHDR chunk');
  if (!sawIdat) throw new PngMetadataError('no_image_data', 'PNG has no image data (IDAT)');
  return { ...header, chunks };
}

function parseHeader(data: Buffer, lim: PngLimits): { width: number; height: number; bitDepth: number; colorType: number } {
  const width = data.readUInt32BE(0);
  const height = data.readUInt32BE(4);
  const bitDepth = data[8]!;
  const colorType = data[9]!;
  if (width === 0 || height === 0) throw new PngMetadataError('bad_header', `PNG declares an empty image (${width}×${height})`);
  if (width > lim.maxDimension || height > lim.maxDimension || width * height > lim.maxPixels) {
    throw new PngMetadataError('too_large', `PNG declares ${width}×${height} pixels; the limit is ${lim.maxDimension} per side and ${lim.maxPixels} pixels`);
  }
  if (!BIT_DEPTHS[colorType]?.includes(bitDepth)) throw new PngMetadataError('bad_header', `PNG has an invalid colour type ${colorType} / bit depth ${bitDepth}`);
  if (data[10] !== 0 || data[11] !== 0 || (data[12] !== 0 && data[12] !== 1)) {
    throw new PngMetadataError('bad_header', 'PNG declares an unknown compression, filter or interlace method');
  }
  return { width, height, bitDepth, colorType };
}

function parseTextChunk(type: string, data: Buffer, maxText: number): { keyword: string; text: string } {
  const nul = data.indexOf(0);
  if (nul < 1 || nul > 79) throw new PngMetadataError('bad_text', `${type} chunk has an invalid keyword`);
  const keyword = data.toString('latin1', 0, nul);
  const rest = data.subarray(nul + 1);
  if (type === 'tEXt') return { keyword, text: capped(rest.toString('latin1'), maxText, keyword) };
  if (type === 'zTXt') {
    if (rest[0] !== 0) throw new PngMetadataError('bad_text', `zTXt "${keyword}" uses an unknown compression method`);
    return { keyword, text: inflateCapped(rest.subarray(1), maxText, keyword).toString('latin1') };
  }
  // iTXt: compression flag, method, language tag\0, translated keyword\0, UTF-8 text.
  if (rest.length < 2) throw new PngMetadataError('bad_text', `iTXt "${keyword}" is truncated`);
  const compressed = rest[0];
  const method = rest[1];
  const langEnd = rest.indexOf(0, 2);
  const transEnd = langEnd < 0 ? -1 : rest.indexOf(0, langEnd + 1);
  if (transEnd < 0) throw new PngMetadataError('bad_text', `iTXt "${keyword}" is truncated`);
  const body = rest.subarray(transEnd + 1);
  if (compressed === 1) {
    if (method !== 0) throw new PngMetadataError('bad_text', `iTXt "${keyword}" uses an unknown compression method`);
    return { keyword, text: decodeUtf8(inflateCapped(body, maxText, keyword), keyword) };
  }
  if (compressed !== 0) throw new PngMetadataError('bad_text', `iTXt "${keyword}" has an invalid compression flag`);
  return { keyword, text: capped(decodeUtf8(body, keyword), maxText, keyword) };
}

function decodeUtf8(bytes: Buffer, keyword: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new PngMetadataError('bad_text', `iTXt "${keyword}" is not valid UTF-8`);
  }
}

function capped(text: string, maxText: number, keyword: string): string {
  if (Buffer.byteLength(text, 'utf8') > maxText) throw new PngMetadataError('text_too_large', `Text chunk "${keyword}" exceeds the text limit`);
  return text;
}

function inflateCapped(data: Buffer, maxText: number, keyword: string): Buffer {
  try {
    // maxOutputLength makes zlib stop (and throw) instead of expanding a zip bomb.
    return zlib.inflateSync(data, { maxOutputLength: Math.max(1, maxText) });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw new PngMetadataError('text_too_large', `Compressed text chunk "${keyword}" inflates beyond the text limit`);
    throw new PngMetadataError('bad_text', `Compressed text chunk "${keyword}" is corrupt`);
  }
}

// ---------------------------------------------------------------------------------------
// Writing

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(zlib.crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

// Latin-1 without control characters other than newline: what tEXt may carry (§11.3.3.2).
const isLatin1Text = (text: string): boolean => /^[\n\x20-\x7e\xa1-\xff]*$/.test(text);

/**
 * A text chunk the way PIL's PngInfo.add_text writes it (and so A1111, ComfyUI, InvokeAI):
 * tEXt when the text is Latin-1, else an uncompressed iTXt with UTF-8 text.
 */
export function textChunk(keyword: string, text: string, options: { forceItxt?: boolean; compress?: boolean } = {}): Buffer {
  if (!/^[\x20-\x7e\xa1-\xff]{1,79}$/.test(keyword) || keyword.startsWith(' ') || keyword.endsWith(' ')) {
    throw new Error(`Invalid PNG text keyword "${keyword}"`);
  }
  if (!options.forceItxt && !options.compress && isLatin1Text(text)) {
    return chunk('tEXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]));
  }
  const body = options.compress ? zlib.deflateSync(Buffer.from(text, 'utf8')) : Buffer.from(text, 'utf8');
  return chunk(
    'iTXt',
    Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, options.compress ? 1 : 0, 0, 0, 0]), body]),
  );
}

/** Inserts text chunks right after IHDR, so readers that stop early still find them. */
export function insertTextChunks(png: Buffer, textChunks: Buffer[]): Buffer {
  if (!png.subarray(0, 8).equals(PNG_SIGNATURE) || png.toString('latin1', 12, 16) !== 'IHDR') throw new Error('insertTextChunks needs a PNG that starts with IHDR');
  const afterHeader = 8 + 12 + png.readUInt32BE(8);
  return Buffer.concat([png.subarray(0, afterHeader), ...textChunks, png.subarray(afterHeader)]);
}

/** A PNG without its tEXt/zTXt/iTXt chunks (the bytes must be a PNG already validated). */
export function stripTextChunks(png: Buffer): Buffer {
  const parts: Buffer[] = [png.subarray(0, 8)];
  let offset = 8;
  while (offset + 12 <= png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const end = offset + 12 + length;
    if (!TEXT_TYPES.has(type)) parts.push(png.subarray(offset, end));
    offset = end;
    if (type === 'IEND') break;
  }
  return Buffer.concat(parts);
}

/** RGBA pixels (8 bits per channel, no text chunks) as a PNG. */
export function encodeRgbaPng(image: { width: number; height: number; data: Uint8Array }): Buffer {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new Error(`Invalid image size ${width}×${height}`);
  if (data.length !== width * height * 4) throw new Error(`RGBA data has ${data.length} bytes; ${width}×${height} needs ${width * height * 4}`);
  const png = new PNG({ width, height, colorType: 6, inputColorType: 6, bitDepth: 8, inputHasAlpha: true });
  png.data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return PNG.sync.write(png, { colorType: 6, inputColorType: 6, bitDepth: 8, inputHasAlpha: true });
}
