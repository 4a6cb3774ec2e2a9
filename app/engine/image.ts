import fs from 'node:fs/promises';
import sharp, { type FitEnum, type Metadata } from 'sharp';
import { ApiError, type ImageRef } from '../contract/index.js';
import type { RgbaImage } from './pipeline/types.js';

export type { RgbaImage } from './pipeline/types.js';

// Image I/O for the engine and the service: every image that enters the studio (a file, PNG
// bytes from the web UI, a library image) becomes an RgbaImage here, with limits checked
// before any pixel is decoded. sharp (libvips) does decoding, encoding and resampling; the
// small pixel operations (crop, paste, compositing) are plain TypeScript.

/** Longest side accepted, in pixels. */
export const MAX_IMAGE_SIDE = 8192;
/** Largest image accepted, in pixels (64 MP). */
export const MAX_IMAGE_PIXELS = 64_000_000;

/** Resolves a library image by its SHA-256 to a file path or its bytes; supplied by the service. */
export type Sha256Resolver = (sha256: string) => Promise<string | Uint8Array | undefined> | string | Uint8Array | undefined;

export interface DecodeOptions {
  /** Named in error messages, e.g. "init image". */
  label?: string;
}

/** Decodes a PNG/JPEG/WebP/TIFF/GIF file or bytes to 8-bit sRGB RGBA, EXIF orientation applied. */
export async function decodeImage(input: string | Uint8Array, options: DecodeOptions = {}): Promise<RgbaImage> {
  const label = options.label ?? 'image';
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    try {
      bytes = await fs.readFile(input);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new ApiError(code === 'ENOENT' ? 'not_found' : 'invalid_file', `Cannot read the ${label} file ${input}: ${(error as Error).message}`);
    }
  } else {
    bytes = input;
  }
  if (bytes.byteLength === 0) throw new ApiError('invalid_file', `The ${label} is empty`);

  // Read the header first so that an oversized image is refused before it is decoded.
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { failOn: 'error', limitInputPixels: false }).metadata();
  } catch (error) {
    throw new ApiError('invalid_file', `The ${label} is not a readable image: ${(error as Error).message}`);
  }
  // EXIF orientations 5..8 swap width and height once applied.
  const swapped = (meta.orientation ?? 1) >= 5;
  const width = swapped ? meta.height : meta.width;
  const height = swapped ? meta.width : meta.height;
  if (!width || !height) throw new ApiError('invalid_file', `The ${label} has no size`);
  checkSize(width, height, label);

  try {
    const { data, info } = await sharp(bytes, { failOn: 'error', limitInputPixels: MAX_IMAGE_PIXELS, animated: false })
      .rotate() // apply EXIF orientation: the artist sees the photo upright
      .toColourspace('srgb')
      .ensureAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 4) throw new Error(`expected 4 channels, got ${info.channels}`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (error) {
    throw new ApiError('invalid_file', `The ${label} could not be decoded: ${(error as Error).message}`);
  }
}

function checkSize(width: number, height: number, label: string): void {
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) {
    throw new ApiError('invalid_file', `The ${label} is ${width}×${height}; Atelier accepts at most ${MAX_IMAGE_SIDE} pixels per side`, { width, height });
  }
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new ApiError('invalid_file', `The ${label} has ${((width * height) / 1e6).toFixed(1)} megapixels; Atelier accepts at most 64 MP`, { width, height });
  }
}

export interface ResolveOptions extends DecodeOptions {
  /** Looks up `{ sha256 }` references in the library. */
  resolveSha256?: Sha256Resolver;
}

/** Turns a contract ImageRef (path, PNG base64, or library SHA-256) into pixels. */
export async function resolveImageRef(ref: ImageRef, options: ResolveOptions = {}): Promise<RgbaImage> {
  const label = options.label ?? 'image';
  if ('path' in ref) return decodeImage(ref.path, options);
  if ('png' in ref) {
    // Accept a data: URL as well as bare base64; anything else in the string is an error.
    const base64 = ref.png.replace(/^data:image\/[a-z+.-]+;base64,/i, '');
    if (!/^[A-Za-z0-9+/_-]+=*$/.test(base64)) throw new ApiError('bad_request', `The ${label} is not base64-encoded image data`);
    return decodeImage(Buffer.from(base64, 'base64'), options);
  }
  if (!options.resolveSha256) throw new ApiError('bad_request', `The ${label} names a library image (${ref.sha256}) but no library is available`);
  const found = await options.resolveSha256(ref.sha256);
  if (found === undefined) throw new ApiError('not_found', `The ${label} ${ref.sha256} is not in the library`);
  return decodeImage(found, options);
}

export function assertRgba(image: RgbaImage, label = 'image'): void {
  if (!Number.isInteger(image.width) || !Number.isInteger(image.height) || image.width <= 0 || image.height <= 0) {
    throw new ApiError('bad_request', `The ${label} has an invalid size ${image.width}×${image.height}`);
  }
  if (image.data.length !== image.width * image.height * 4) {
    throw new ApiError('bad_request', `The ${label} holds ${image.data.length} bytes; ${image.width}×${image.height} RGBA needs ${image.width * image.height * 4}`);
  }
}

export function createImage(width: number, height: number, fill: [number, number, number, number] = [0, 0, 0, 0]): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  if (fill.some((v) => v !== 0)) for (let i = 0; i < data.length; i += 4) data.set(fill, i);
  return { width, height, data };
}

export interface EncodeOptions {
  /** zlib level 0..9; 6 balances size and speed, 1 suits previews. */
  compressionLevel?: number;
}

export async function encodePng(image: RgbaImage, options: EncodeOptions = {}): Promise<Buffer> {
  assertRgba(image);
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 4 } })
    .png({ compressionLevel: options.compressionLevel ?? 6 })
    .toBuffer();
}

/**
 * exact: stretch to width×height; cover: scale to fill and crop the overflow (centred);
 * fit: scale to fit inside and pad with transparent pixels (centred).
 */
export type ResizeFit = 'exact' | 'cover' | 'fit';
/** lanczos3 for pictures, nearest for masks and label maps that must stay crisp. */
export type ResizeKernel = 'lanczos3' | 'nearest' | 'linear' | 'cubic';

const SHARP_FIT: Record<ResizeFit, keyof FitEnum> = { exact: 'fill', cover: 'cover', fit: 'contain' };

export async function resizeImage(image: RgbaImage, width: number, height: number, fit: ResizeFit = 'exact', kernel: ResizeKernel = 'lanczos3'): Promise<RgbaImage> {
  assertRgba(image);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new ApiError('bad_request', `Cannot resize to ${width}×${height}`);
  }
  checkSize(width, height, 'resized image');
  if (width === image.width && height === image.height) return { width, height, data: image.data.slice() };
  const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 4 } })
    .resize(width, height, { fit: SHARP_FIT[fit], kernel, background: { r: 0, g: 0, b: 0, alpha: 0 }, position: 'centre' })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Copies a rectangle out of an image; the rectangle must lie inside it. */
export function cropImage(image: RgbaImage, rect: Rect): RgbaImage {
  assertRgba(image);
  const { x, y, width, height } = rect;
  if (![x, y, width, height].every(Number.isInteger) || width <= 0 || height <= 0 || x < 0 || y < 0 || x + width > image.width || y + height > image.height) {
    throw new ApiError('bad_request', `Crop ${width}×${height} at (${x}, ${y}) does not lie inside the ${image.width}×${image.height} image`);
  }
  const out = new Uint8Array(width * height * 4);
  for (let row = 0; row < height; row++) {
    const from = ((y + row) * image.width + x) * 4;
    out.set(image.data.subarray(from, from + width * 4), row * width * 4);
  }
  return { width, height, data: out };
}

/**
 * Pastes `source` into a copy of `target` with its top-left corner at (x, y), clipped to the
 * target. With `weight` (one value in [0,1] per source pixel, e.g. a feathered inpainting
 * mask) the result is target·(1−w) + source·w per channel; without it the pixels are replaced.
 */
export function pasteImage(target: RgbaImage, source: RgbaImage, x: number, y: number, weight?: Float32Array): RgbaImage {
  assertRgba(target, 'target image');
  assertRgba(source, 'pasted image');
  if (weight && weight.length !== source.width * source.height) {
    throw new ApiError('bad_request', `Paste weights hold ${weight.length} values for a ${source.width}×${source.height} image`);
  }
  const out = target.data.slice();
  const x0 = Math.max(0, x);
  const y0 = Math.max(0, y);
  const x1 = Math.min(target.width, x + source.width);
  const y1 = Math.min(target.height, y + source.height);
  for (let ty = y0; ty < y1; ty++) {
    const sy = ty - y;
    for (let tx = x0; tx < x1; tx++) {
      const sx = tx - x;
      const s = (sy * source.width + sx) * 4;
      const t = (ty * target.width + tx) * 4;
      if (!weight) {
        out[t] = source.data[s]!;
        out[t + 1] = source.data[s + 1]!;
        out[t + 2] = source.data[s + 2]!;
        out[t + 3] = source.data[s + 3]!;
        continue;
      }
      const w = Math.min(1, Math.max(0, weight[sy * source.width + sx]!));
      for (let c = 0; c < 4; c++) out[t + c] = Math.round(out[t + c]! * (1 - w) + source.data[s + c]! * w);
    }
  }
  return { width: target.width, height: target.height, data: out };
}

/**
 * Porter–Duff "source over" of `top` onto `bottom` (same size), on straight (not
 * premultiplied) 8-bit RGBA: αo = αt + αb(1−αt); Co = (Ct·αt + Cb·αb(1−αt)) / αo.
 */
export function compositeOver(bottom: RgbaImage, top: RgbaImage): RgbaImage {
  assertRgba(bottom, 'bottom image');
  assertRgba(top, 'top image');
  if (bottom.width !== top.width || bottom.height !== top.height) {
    throw new ApiError('bad_request', `Cannot composite a ${top.width}×${top.height} image over a ${bottom.width}×${bottom.height} one`);
  }
  const out = new Uint8Array(bottom.data.length);
  const b = bottom.data;
  const t = top.data;
  for (let i = 0; i < out.length; i += 4) {
    const at = t[i + 3]! / 255;
    const ab = b[i + 3]! / 255;
    const ao = at + ab * (1 - at);
    if (ao === 0) continue;
    for (let c = 0; c < 3; c++) out[i + c] = Math.round((t[i + c]! * at + b[i + c]! * ab * (1 - at)) / ao);
    out[i + 3] = Math.round(ao * 255);
  }
  return { width: bottom.width, height: bottom.height, data: out };
}

/** Flattens transparency onto a solid colour (models take RGB; a transparent sketch reads as paper). */
export function flattenOnto(image: RgbaImage, background: [number, number, number] = [255, 255, 255]): RgbaImage {
  return compositeOver(createImage(image.width, image.height, [...background, 255]), image);
}
