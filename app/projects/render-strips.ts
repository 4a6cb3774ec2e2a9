import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Layer, ProjectDocument } from '../contract/projects.js';
import { type ProjectAssets, isTurned, pngDimensions, sourceKey } from './document/index.js';
import { PICTURE_KINDS, type Rgba, compositeOver, decodePng, partBytes, sharpImage, sharpRaw, turnPixels, undecodable, vectorLayerSvg } from './render.js';

// Large flattened exports in strips (issue 17: a 16000² export of a 1.1 MB project took 61 s
// and 3.5 GB, one canvas-sized buffer per layer plus the result). Each picture layer is first
// turned, by libvips, into a tiled and compressed TIFF in a temporary folder (streamed: libvips
// never holds the whole image); the picture is then composited a strip of rows at a time with
// the same src-over as `flatten`, and each strip goes straight into a streaming PNG encoder.
// Peak memory is a few strips per layer, whatever the canvas size.

/** Canvases up to this many pixels are flattened in one piece (`flatten`), larger ones in strips. */
export const STRIP_EXPORT_PIXELS = 4096 * 4096;
/** Rows per strip: 256 rows of a 16384-wide canvas are 16 MiB of RGBA. */
const STRIP_ROWS = 256;
const TIFF = { tile: true, tileWidth: 256, tileHeight: 256, compression: 'deflate' } as const;

/**
 * One layer's pixels and where they sit on the canvas: a raster as a TIFF on disk, a sketch or
 * shapes layer as its SVG, rendered one strip at a time (librsvg holds the whole surface it
 * renders, 1 GB for a 16000² canvas, so a vector layer is never rendered whole).
 */
interface StripSource {
  file?: string;
  svg?: string;
  left: number;
  top: number;
  width: number;
  height: number;
  opacity: number;
}

/** The layer as a tiled TIFF: rasters at their placed size, vectors at canvas size; null if nothing shows. */
async function layerSource(doc: ProjectDocument, assets: ProjectAssets, layer: Layer, file: string): Promise<StripSource | null> {
  const { width, height } = doc.canvas;
  const svg = vectorLayerSvg(layer, width, height);
  if (svg !== null) return { svg, left: 0, top: 0, width, height, opacity: layer.opacity };
  if (layer.kind !== 'paint' && layer.kind !== 'reference' && layer.kind !== 'generated') return null;
  const png = partBytes(assets, sourceKey(layer.image));
  const native = pngDimensions(png);
  // The same placement rule as placeLayer/renderLayer: an unscaled raster at its own offset,
  // anything else resized (Lanczos 3) to its rounded size at its rounded offset.
  const w = Math.max(1, Math.round(layer.width));
  const h = Math.max(1, Math.round(layer.height));
  if (isTurned(layer)) {
    // Rotated or flipped (docs/canvas.md, "Move, scale, rotate, flip"): turned whole in memory,
    // as `renderLayer` does it (libvips rotates a whole image), then tiled like any other.
    const turned = await turnPixels(await decodePng(png, w, h), layer);
    await sharpRaw(turned.image).tiff(TIFF).toFile(file).catch(undecodable);
    return { file, left: turned.left, top: turned.top, width: turned.image.width, height: turned.image.height, opacity: layer.opacity };
  }
  let image = sharpImage(png, { sequentialRead: true }).ensureAlpha();
  if (native.width !== w || native.height !== h || ![layer.x, layer.y, layer.width, layer.height].every(Number.isInteger)) {
    image = image.resize(w, h, { fit: 'fill', kernel: 'lanczos3' });
  }
  await image.tiff(TIFF).toFile(file).catch(undecodable);
  return { file, left: Math.round(layer.x), top: Math.round(layer.y), width: w, height: h, opacity: layer.opacity };
}

/** The rows [top, top + rows) of `source` that fall on the canvas, composited onto `strip`. */
async function compositeStrip(strip: Rgba, stripTop: number, source: StripSource): Promise<void> {
  const y0 = Math.max(stripTop, source.top);
  const y1 = Math.min(stripTop + strip.height, source.top + source.height);
  const x0 = Math.max(0, source.left);
  const x1 = Math.min(strip.width, source.left + source.width);
  if (y1 <= y0 || x1 <= x0) return;
  const region = { left: x0 - source.left, top: y0 - source.top, width: x1 - x0, height: y1 - y0 };
  const { data, info } = await (source.svg === undefined ? sharpImage(source.file).extract(region) : sharpImage(Buffer.from(stripSvg(source.svg, region))))
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true })
    .catch(undecodable);
  compositeOver(strip, { width: info.width, height: info.height, data }, source.opacity, x0, y0 - stripTop);
}

/**
 * The same drawing seen through a window of `region`: a whole-pixel translation, so librsvg
 * rasterises exactly the pixels the full render would have there.
 */
function stripSvg(svg: string, region: { left: number; top: number; width: number; height: number }): string {
  const inner = svg.slice(svg.indexOf('>') + 1, svg.lastIndexOf('</svg>'));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${region.width}" height="${region.height}" viewBox="${region.left} ${region.top} ${region.width} ${region.height}">${inner}</svg>`;
}

/** A row as 32-bit words (rows start at multiples of 4 bytes in buffers made here). */
function words(row: Uint8Array): Uint32Array {
  return row.byteOffset % 4 === 0 ? new Uint32Array(row.buffer, row.byteOffset, row.length >>> 2) : new Uint32Array(row.slice().buffer);
}

/**
 * PNG's Up filter, row − previous row per byte mod 256, four bytes at a time (SWAR: the high
 * bit of each byte is handled apart so no borrow crosses into the next byte).
 */
function upFilter(out: Uint32Array, row: Uint32Array, previous: Uint32Array): void {
  for (let i = 0; i < out.length; i++) {
    const a = row[i]!;
    const b = previous[i]!;
    out[i] = (((a | 0x80808080) - (b & 0x7f7f7f7f)) ^ ((a ^ ~b) & 0x80808080)) >>> 0;
  }
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(zlib.crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/**
 * A streaming PNG encoder for 8-bit RGBA (PNG spec, ISO/IEC 15948): rows are filtered with
 * "Up" (cheap, and flat or vertical content compresses to almost nothing) and deflated as they
 * come; the compressed stream is cut into IDAT chunks.
 */
class PngStream {
  private readonly deflate = zlib.createDeflate({ level: 6 });
  private readonly idat: Buffer[] = [];
  private previous: Uint8Array;

  constructor(private readonly width: number, private readonly height: number) {
    this.previous = new Uint8Array(width * 4); // the row above the first is zeros
    this.deflate.on('data', (data: Buffer) => this.idat.push(chunk('IDAT', data)));
  }

  async writeRows(image: Rgba): Promise<void> {
    const stride = this.width * 4;
    const out = Buffer.alloc(image.height * (stride + 1));
    const filtered = new Uint32Array(this.width);
    const bytes = new Uint8Array(filtered.buffer);
    for (let y = 0; y < image.height; y++) {
      const row = image.data.subarray(y * stride, (y + 1) * stride);
      upFilter(filtered, words(row), words(this.previous));
      out[y * (stride + 1)] = 2; // filter type Up
      out.set(bytes, y * (stride + 1) + 1);
      this.previous = row; // the strip it belongs to is never written again
    }
    if (!this.deflate.write(out)) await new Promise((resolve) => this.deflate.once('drain', resolve));
  }

  async end(): Promise<Buffer> {
    await new Promise<void>((resolve, reject) => {
      this.deflate.once('end', resolve);
      this.deflate.once('error', reject);
      this.deflate.end();
    });
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(this.width, 0);
    ihdr.writeUInt32BE(this.height, 4);
    ihdr.set([8, 6, 0, 0, 0], 8); // 8 bits, RGBA, deflate, adaptive filters, no interlace
    const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    return Buffer.concat([signature, chunk('IHDR', ihdr), ...this.idat, chunk('IEND', new Uint8Array(0))]);
  }
}

/**
 * The picture as `flatten` makes it (visible picture layers over the background), encoded as
 * a PNG strip by strip: for canvases too large to hold as one RGBA buffer per layer.
 */
export async function flattenToPngInStrips(doc: ProjectDocument, assets: ProjectAssets): Promise<Buffer> {
  const { width, height, background } = doc.canvas;
  const bg = [1, 3, 5, 7].map((o) => (o < background.length ? parseInt(background.slice(o, o + 2), 16) : 255));
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'atelier-export-'));
  try {
    const sources: StripSource[] = [];
    for (const [i, layer] of doc.layers.entries()) {
      if (!layer.visible || !PICTURE_KINDS.has(layer.kind) || layer.opacity === 0) continue;
      const source = await layerSource(doc, assets, layer, path.join(dir, `${i}.tif`));
      if (source) sources.push(source);
      if (process.env.ATELIER_PROF) console.error('source', i, Math.round(performance.now()), process.resourceUsage().maxRSS >> 10);
    }
    const png = new PngStream(width, height);
    for (let top = 0; top < height; top += STRIP_ROWS) {
      const rows = Math.min(STRIP_ROWS, height - top);
      const strip: Rgba = { width, height: rows, data: new Uint8Array(width * rows * 4) };
      for (let i = 0; i < strip.data.length; i += 4) strip.data.set(bg, i);
      for (const source of sources) await compositeStrip(strip, top, source);
      await png.writeRows(strip);
      if (process.env.ATELIER_PROF && top % 4096 === 0) console.error('strip', top, Math.round(performance.now()), process.resourceUsage().maxRSS >> 10, process.memoryUsage().rss >> 20);
    }
    return await png.end();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
