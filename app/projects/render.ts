import { Buffer } from 'node:buffer';
import sharp, { type Sharp, type SharpOptions } from 'sharp';
import { type Layer, MAX_CANVAS, type ProjectDocument, type Shape, type Stroke } from '../contract/projects.js';
import { ApiError } from '../contract/errors.js';
import { type Placement, type ProjectAssets, findLayer, isTurned, pngDimensions, pressureWidth, sourceKey } from './document/index.js';
import { pngBytes } from './png-data.js';

/**
 * Largest image any import, render or export decodes: the contract's largest canvas, 16384².
 * sharp's own default (0x3FFF², i.e. 16383²) is one row and column short, which made a
 * 16384² project unexportable and a 16384² PSD layer an `internal` error (issue 17).
 */
export const MAX_IMAGE_PIXELS = MAX_CANVAS * MAX_CANVAS;
const MAX_PLACED_PIXELS = MAX_IMAGE_PIXELS;

/** sharp with the project's pixel limit; every sharp call in app/projects goes through here. */
export function sharpImage(input?: Buffer | Uint8Array | string, options: SharpOptions = {}): Sharp {
  return sharp(input, { limitInputPixels: MAX_IMAGE_PIXELS, ...options });
}

/** sharp over raw RGBA pixels, within the same limit. */
export function sharpRaw(image: Rgba): Sharp {
  return sharpImage(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), { raw: { width: image.width, height: image.height, channels: 4 } });
}

// Layers to pixels, in Node (exports, contact sheets). Every layer renders to a straight-alpha
// RGBA buffer the size of the canvas; compositing is src-over with the layer's opacity.

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Straight (not premultiplied) RGBA, row-major. */
export interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

export function emptyRgba(width: number, height: number): Rgba {
  return { width, height, data: new Uint8Array(width * height * 4) };
}

export async function decodePng(png: Uint8Array, width?: number, height?: number): Promise<Rgba> {
  let image = sharpImage(png).ensureAlpha();
  if (width !== undefined && height !== undefined) image = image.resize(width, height, { fit: 'fill', kernel: 'lanczos3' });
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true }).catch(undecodable);
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/**
 * A part whose header passed the checks on open but whose pixels do not decode (a truncated or
 * corrupt PNG) is a bad file, not a fault of the studio: invalid_file, never internal.
 */
export function undecodable(error: unknown): never {
  throw new ApiError('invalid_file', `An image in the project cannot be decoded: ${error instanceof Error ? error.message : String(error)}`);
}

export async function encodePng(image: Rgba): Promise<Buffer> {
  return sharpRaw(image).png().toBuffer();
}

/** Copies `src` into `dst` at (left, top), clipped to `dst`. */
function blit(dst: Rgba, src: Rgba, left: number, top: number): void {
  const x0 = Math.max(0, left);
  const y0 = Math.max(0, top);
  const x1 = Math.min(dst.width, left + src.width);
  const y1 = Math.min(dst.height, top + src.height);
  if (x1 <= x0) return;
  for (let y = y0; y < y1; y++) {
    const from = ((y - top) * src.width + (x0 - left)) * 4;
    dst.data.set(src.data.subarray(from, from + (x1 - x0) * 4), (y * dst.width + x0) * 4);
  }
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** SVG colour + opacity attributes from #rrggbb[aa]. */
function paint(attr: 'stroke' | 'fill', colour: string | null): string {
  if (colour === null) return `${attr}="none"`;
  const alpha = colour.length === 9 ? parseInt(colour.slice(7), 16) / 255 : 1;
  return `${attr}="${colour.slice(0, 7)}" ${attr}-opacity="${alpha}"`;
}

/**
 * A stroke as round-capped segments whose width follows pressure (SVG strokes have one width,
 * so each segment takes the mean pressure of its two ends); `pressureWidth` is the same rule
 * the canvas and the control maps draw with.
 */
function strokeSvg(stroke: Stroke, colour: string): string {
  const p = stroke.points;
  if (p.length === 3) return `<circle cx="${p[0]}" cy="${p[1]}" r="${pressureWidth(stroke.width, p[2]!) / 2}" ${paint('fill', colour)}/>`;
  const segments: string[] = [];
  for (let i = 0; i + 5 < p.length; i += 3) {
    const width = pressureWidth(stroke.width, (p[i + 2]! + p[i + 5]!) / 2);
    segments.push(`<line x1="${p[i]}" y1="${p[i + 1]}" x2="${p[i + 3]}" y2="${p[i + 4]}" stroke-width="${width}"/>`);
  }
  return `<g ${paint('stroke', colour)} stroke-linecap="round">${segments.join('')}</g>`;
}

function sketchSvg(strokes: readonly Stroke[], width: number, height: number): string {
  // An eraser stroke hides what was drawn before it, not after: wrap everything so far in a mask.
  let content = '';
  const defs: string[] = [];
  strokes.forEach((stroke, i) => {
    if (stroke.tool === 'eraser') {
      defs.push(`<mask id="e${i}" maskUnits="userSpaceOnUse" x="0" y="0" width="${width}" height="${height}"><rect width="${width}" height="${height}" fill="#fff"/>${strokeSvg(stroke, '#000000')}</mask>`);
      content = `<g mask="url(#e${i})">${content}</g>`;
    } else {
      content += strokeSvg(stroke, stroke.colour);
    }
  });
  return `<defs>${defs.join('')}</defs>${content}`;
}

function shapeSvg(shape: Shape): string {
  const style = `${paint('stroke', shape.stroke)} stroke-width="${shape.strokeWidth}" ${paint('fill', shape.fill)}`;
  switch (shape.type) {
    case 'rectangle':
      return `<rect x="${shape.x}" y="${shape.y}" width="${shape.width}" height="${shape.height}" ${style}/>`;
    case 'ellipse':
      return `<ellipse cx="${shape.x + shape.width / 2}" cy="${shape.y + shape.height / 2}" rx="${shape.width / 2}" ry="${shape.height / 2}" ${style}/>`;
    case 'line':
      return `<line x1="${shape.x1}" y1="${shape.y1}" x2="${shape.x2}" y2="${shape.y2}" ${style}/>`;
    case 'region': {
      const size = Math.max(8, Math.min(24, shape.height / 4));
      return (
        `<rect x="${shape.x}" y="${shape.y}" width="${shape.width}" height="${shape.height}" ${style} stroke-dasharray="6 4"/>` +
        `<text x="${shape.x + 4}" y="${shape.y + size + 2}" font-family="DejaVu Sans" font-size="${size}" ${paint('fill', shape.stroke)}>${escapeXml(shape.label)}</text>`
      );
    }
  }
}

function svgDocument(body: string, width: number, height: number): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${body}</svg>`;
}

async function renderSvg(body: string, width: number, height: number): Promise<Rgba> {
  return decodePng(await sharpImage(Buffer.from(svgDocument(body, width, height))).png().toBuffer());
}

/** The SVG document a sketch or shapes layer renders from at canvas size; null for other kinds. */
export function vectorLayerSvg(layer: Layer, width: number, height: number): string | null {
  if (layer.kind === 'sketch') return svgDocument(sketchSvg(layer.strokes, width, height), width, height);
  if (layer.kind === 'shapes') return svgDocument(layer.shapes.map(shapeSvg).join(''), width, height);
  return null;
}

export function partBytes(assets: ProjectAssets, part: string): Uint8Array {
  const dataUrl = assets[part];
  if (dataUrl === undefined) throw new Error(`The image ${part} is missing from the project`);
  return pngBytes(dataUrl);
}

/** A layer's pixels where they sit: a raster at its own size and offset, anything else at canvas size. */
export interface PlacedPixels {
  image: Rgba;
  left: number;
  top: number;
  /** The part's own PNG when the pixels are exactly it (no scaling): exports can copy it as is. */
  png?: Uint8Array;
}

export async function placeLayer(doc: ProjectDocument, assets: ProjectAssets, layer: Layer): Promise<PlacedPixels> {
  if (layer.kind === 'mask' || ((layer.kind === 'paint' || layer.kind === 'reference' || layer.kind === 'generated') && !isTurned(layer))) {
    const { x, y, width, height } = layer;
    if ([x, y, width, height].every(Number.isInteger)) {
      const png = partBytes(assets, sourceKey(layer.image));
      const size = pngDimensions(png);
      if (size.width === width && size.height === height) return { image: await decodePng(png), left: x, top: y, png };
    }
  }
  return { image: await renderLayer(doc, assets, layer), left: 0, top: 0 };
}

/**
 * One layer's own pixels at canvas size, opacity not applied (exports keep opacity as a
 * layer property). A control layer that renders another layer shows that layer's pixels.
 */
export async function renderLayer(doc: ProjectDocument, assets: ProjectAssets, layer: Layer, depth = 0): Promise<Rgba> {
  const { width, height } = doc.canvas;
  switch (layer.kind) {
    case 'sketch':
      return renderSvg(sketchSvg(layer.strokes, width, height), width, height);
    case 'shapes':
      return renderSvg(layer.shapes.map(shapeSvg).join(''), width, height);
    case 'control': {
      if (layer.image) return decodePng(partBytes(assets, layer.image.part), width, height);
      const source = layer.sourceLayerId === null ? undefined : findLayer(doc, layer.sourceLayerId);
      return source && depth < 2 ? renderLayer(doc, assets, source, depth + 1) : emptyRgba(width, height);
    }
    default: {
      const w = Math.max(1, Math.round(layer.width));
      const h = Math.max(1, Math.round(layer.height));
      // A placement is scaled before it is clipped: refuse sizes no export could hold in memory.
      if (w * h > MAX_PLACED_PIXELS) throw new ApiError('invalid_file', `Layer "${layer.name}" is placed at ${w}×${h} pixels; at most ${MAX_PLACED_PIXELS} are rendered`);
      const image = await decodePng(partBytes(assets, sourceKey(layer.image)), w, h);
      const canvas = emptyRgba(width, height);
      if (layer.kind !== 'mask' && isTurned(layer)) {
        const turned = await turnPixels(image, layer);
        blit(canvas, turned.image, turned.left, turned.top);
      } else blit(canvas, image, Math.round(layer.x), Math.round(layer.y));
      return canvas;
    }
  }
}

/**
 * A placed raster (already at its placed size) mirrored, then rotated clockwise about its
 * centre (docs/canvas.md, "Move, scale, rotate, flip"), with where its bounding box sits on the
 * canvas. libvips mirrors before it rotates and widens the image to the rotated box,
 * transparent outside the picture, so the box's centre stays the rectangle's centre.
 */
export async function turnPixels(image: Rgba, placement: Placement): Promise<{ image: Rgba; left: number; top: number }> {
  let pipeline = sharpRaw(image);
  if (placement.flipY) pipeline = pipeline.flip();
  if (placement.flipX) pipeline = pipeline.flop();
  const rotation = placement.rotation ?? 0;
  if (rotation % 360 !== 0) pipeline = pipeline.rotate(rotation, { background: { r: 0, g: 0, b: 0, alpha: 0 } });
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true }).catch(undecodable);
  const cx = placement.x + placement.width / 2;
  const cy = placement.y + placement.height / 2;
  return { image: { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }, left: Math.round(cx - info.width / 2), top: Math.round(cy - info.height / 2) };
}

/**
 * src-over of `src` × `opacity` onto `dst` with `src` at (left, top), clipped (Porter–Duff,
 * straight alpha: out_a = s_a + d_a(1 − s_a), out_c = (s_c s_a + d_c d_a (1 − s_a)) / out_a).
 */
export function compositeOver(dst: Rgba, src: Rgba, opacity: number, left = 0, top = 0): void {
  const d = dst.data;
  const s = src.data;
  // Whole pixels as 32-bit words where the buffers allow: an opaque pixel is one copy, a
  // transparent one one test (the common cases in large exports).
  const words = LITTLE_ENDIAN && d.byteOffset % 4 === 0 && s.byteOffset % 4 === 0;
  const d32 = words ? new Uint32Array(d.buffer, d.byteOffset, d.length >>> 2) : null;
  const s32 = words ? new Uint32Array(s.buffer, s.byteOffset, s.length >>> 2) : null;
  const x0 = Math.max(0, left);
  const x1 = Math.min(dst.width, left + src.width);
  const y1 = Math.min(dst.height, top + src.height);
  for (let y = Math.max(0, top); y < y1; y++) {
    const srcRow = (y - top) * src.width - left;
    const dstRow = y * dst.width;
    for (let x = x0; x < x1; x++) {
      const j = (srcRow + x) * 4;
      const alpha = s[j + 3]!;
      if (alpha === 0 || opacity === 0) continue;
      const i = (dstRow + x) * 4;
      if (alpha === 255 && opacity === 1) {
        // Opaque: the formula below reduces to the source pixel exactly.
        if (d32 && s32) d32[i >>> 2] = s32[j >>> 2]!;
        else d.set(s.subarray(j, j + 4), i);
        continue;
      }
      const sa = (alpha / 255) * opacity;
      const da = d[i + 3]! / 255;
      const oa = sa + da * (1 - sa);
      for (let c = 0; c < 3; c++) d[i + c] = Math.round((s[j + c]! * sa + d[i + c]! * da * (1 - sa)) / oa);
      d[i + 3] = Math.round(oa * 255);
    }
  }
}

/** Kinds that are the picture; masks and control layers are guides and stay out of a flattened image. */
export const PICTURE_KINDS: ReadonlySet<Layer['kind']> = new Set(['paint', 'reference', 'sketch', 'shapes', 'generated']);

/**
 * The picture as the canvas shows it, minus guides: visible picture layers over the
 * background. `placed` reuses pixels an export already has (keyed by layer id).
 */
export async function flatten(doc: ProjectDocument, assets: ProjectAssets, placed?: ReadonlyMap<string, PlacedPixels>): Promise<Rgba> {
  const { width, height, background } = doc.canvas;
  const out = emptyRgba(width, height);
  const bg = [1, 3, 5, 7].map((o) => (o < background.length ? parseInt(background.slice(o, o + 2), 16) : 255));
  for (let i = 0; i < out.data.length; i += 4) out.data.set(bg, i);
  for (const layer of doc.layers) {
    if (!layer.visible || !PICTURE_KINDS.has(layer.kind) || layer.opacity === 0) continue;
    const pixels = placed?.get(layer.id) ?? (await placeLayer(doc, assets, layer));
    compositeOver(out, pixels.image, layer.opacity, pixels.left, pixels.top);
  }
  return out;
}
