import type { ImageSource, RasterRef } from '../../contract/projects.js';
import { newId } from './operations.js';

/**
 * Raster bytes beside the document: part path (`parts/<id>.png`) → PNG data URL. Data URLs go
 * straight into an <img>/Konva.Image and through JSON unchanged; the file layer turns them
 * into PNG parts of the zip. Parts are immutable: new pixels get a new part, so undo never
 * has to restore bytes, only references.
 *
 * Library images (`{ sha256 }` sources) are not the UI's assets: it shows them from the
 * library. The service keeps their bytes under `images/<sha256>.png` in the same record, the
 * entry name they have in an .atelier zip, so saving, exporting and importing read any image
 * source through `sourceKey`.
 */
export type ProjectAssets = Readonly<Record<string, string>>;

export const LIBRARY_IMAGE_PATTERN = /^images\/[0-9a-f]{64}\.png$/;

/** The entry of a library image in an .atelier zip and in the service's assets. */
export function libraryImageKey(sha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`Not a SHA-256: ${sha256}`);
  return `images/${sha256}.png`;
}

/** The SHA-256 a library image entry is named by (its bytes must hash to it). */
export function libraryImageSha(key: string): string | undefined {
  return LIBRARY_IMAGE_PATTERN.test(key) ? key.slice('images/'.length, -'.png'.length) : undefined;
}

/** The assets key of an image source: its part, or its library image entry. */
export function sourceKey(ref: RasterRef | ImageSource): string {
  return 'part' in ref ? ref.part : libraryImageKey(ref.sha256);
}

const PNG_PREFIX = 'data:image/png;base64,';
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function partPath(id: string): string {
  return `parts/${id}.png`;
}

/** Adds PNG pixels as a new part; returns the assets with it and the reference to put in a layer. */
export function addAsset(assets: ProjectAssets, png: Uint8Array | string, id = newId('a')): { assets: ProjectAssets; ref: RasterRef } {
  const dataUrl = typeof png === 'string' ? png : pngToDataUrl(png);
  if (!dataUrl.startsWith(PNG_PREFIX)) throw new Error('Assets are PNG data URLs (data:image/png;base64,…)');
  const part = partPath(id);
  if (Object.hasOwn(assets, part)) throw new Error(`Asset ${part} already exists`);
  return { assets: { ...assets, [part]: dataUrl }, ref: { part } };
}

/** Keeps only the parts the document refers to (what a save writes). */
export function pruneAssets(assets: ProjectAssets, referenced: ReadonlySet<string>): ProjectAssets {
  return Object.fromEntries(Object.entries(assets).filter(([part]) => referenced.has(part)));
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;
const CODES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
const ASCII = new TextDecoder('latin1');

/**
 * RFC 4648 base64 (no Buffer, no atob: this module also runs in the renderer and in workers).
 * Writes ASCII codes into a byte array and decodes it once: string concatenation per
 * character made a 60 MB project take seconds.
 */
export function base64Encode(bytes: Uint8Array): string {
  const out = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
  let o = 0;
  const full = bytes.length - (bytes.length % 3);
  for (let i = 0; i < full; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = CODES[(n >> 18) & 63]!;
    out[o++] = CODES[(n >> 12) & 63]!;
    out[o++] = CODES[(n >> 6) & 63]!;
    out[o++] = CODES[n & 63]!;
  }
  const rest = bytes.length - full;
  if (rest > 0) {
    const n = (bytes[full]! << 16) | (rest === 2 ? bytes[full + 1]! << 8 : 0);
    out[o++] = CODES[(n >> 18) & 63]!;
    out[o++] = CODES[(n >> 12) & 63]!;
    out[o++] = rest === 2 ? CODES[(n >> 6) & 63]! : 61;
    out[o] = 61;
  }
  return ASCII.decode(out);
}

export function base64Decode(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new Error('base64 length is not a multiple of 4');
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let k = 0; k < 4; k++) {
      const ch = text.charCodeAt(i + k);
      const v = ch === 61 && i + k >= text.length - padding ? 0 : ch < 128 ? LOOKUP[ch]! : -1;
      if (v < 0) throw new Error('invalid base64 character');
      n = (n << 6) | v;
    }
    if (o < out.length) out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

export function pngToDataUrl(png: Uint8Array): string {
  if (!isPng(png)) throw new Error('Not a PNG (bad signature)');
  return PNG_PREFIX + base64Encode(png);
}

export function dataUrlToPng(dataUrl: string): Uint8Array {
  if (!dataUrl.startsWith(PNG_PREFIX)) throw new Error('Not a PNG data URL');
  const bytes = base64Decode(dataUrl.slice(PNG_PREFIX.length));
  if (!isPng(bytes)) throw new Error('Data URL does not hold a PNG (bad signature)');
  return bytes;
}

/**
 * Width and height from a PNG's IHDR (PNG spec §11.2.2), without decoding: lets a reader
 * refuse an oversized image before inflating a single pixel.
 */
export function pngDimensions(png: Uint8Array): { width: number; height: number } {
  if (!isPng(png) || png.length < 24) throw new Error('Not a PNG (bad signature)');
  const ihdr = String.fromCharCode(png[12]!, png[13]!, png[14]!, png[15]!);
  if (ihdr !== 'IHDR') throw new Error('PNG does not start with IHDR');
  const u32 = (o: number) => ((png[o]! << 24) >>> 0) + (png[o + 1]! << 16) + (png[o + 2]! << 8) + png[o + 3]!;
  return { width: u32(16), height: u32(20) };
}
