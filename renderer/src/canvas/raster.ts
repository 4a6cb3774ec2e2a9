import { type Layer, type Placement, type ProjectAssets, type ProjectDocument, type Shape, type Stroke, constantPressure, isTurned, placementMatrix, pressureWidth, widthRuns } from '../../../app/projects/document/index.js';
import { libraryImageUrl } from '../api/media.js';
import type { MaskArea } from './gestures/types.js';
import type { Rect } from './viewport.js';

// Pixels in the browser: image loading, mask painting, and rendering document layers to PNG
// at the generation frame's size (what is sent to the engine as ImageRefs).

const images = new Map<string, Promise<HTMLImageElement>>();

/** Loads (once) an image from a data URL or same-origin URL. */
export function loadImage(src: string): Promise<HTMLImageElement> {
  let promise = images.get(src);
  if (!promise) {
    promise = new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error(`Could not load image ${src.slice(0, 64)}`));
      img.src = src;
    });
    images.set(src, promise);
    promise.catch(() => images.delete(src));
  }
  return promise;
}

/** Where an image source's pixels load from: a project part (data URL), or the library's image URL. */
export function sourceUrl(ref: { part: string } | { sha256: string }, assets: ProjectAssets): string | undefined {
  return 'part' in ref ? assets[ref.part] : libraryImageUrl(ref.sha256);
}

export function makeCanvas(width: number, height: number): { canvas: HTMLCanvasElement; ctx: CanvasRenderingContext2D } {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('This browser has no 2D canvas');
  return { canvas, ctx };
}

/** Any image (PNG, JPEG, WebP…) as a PNG data URL: project parts are PNG. */
export async function toPngDataUrl(src: string): Promise<{ dataUrl: string; width: number; height: number }> {
  const img = await loadImage(src);
  const { canvas, ctx } = makeCanvas(img.naturalWidth, img.naturalHeight);
  ctx.drawImage(img, 0, 0);
  return { dataUrl: canvas.toDataURL('image/png'), width: img.naturalWidth, height: img.naturalHeight };
}

/** Canvas 2D path of a stroke's flat x, y, pressure triples. */
export function traceStroke(ctx: CanvasRenderingContext2D, points: readonly number[]): void {
  ctx.beginPath();
  if (points.length < 3) return;
  ctx.moveTo(points[0] ?? 0, points[1] ?? 0);
  if (points.length === 3) ctx.lineTo((points[0] ?? 0) + 0.01, points[1] ?? 0);
  for (let i = 3; i < points.length; i += 3) ctx.lineTo(points[i] ?? 0, points[i + 1] ?? 0);
}

/**
 * Draws many strokes, batching runs of consecutive strokes with the same tool, colour and
 * drawn width into one path: one stroke() call for a run instead of one per stroke, which is
 * most of the cost of redrawing a busy sketch. Strokes of one pressure throughout (every mouse
 * stroke) draw at `pressureWidth` of it and batch; a pen stroke whose pressure varies draws as
 * `widthRuns`, a few polylines of stepped width. Translucent colours are drawn one by one,
 * since a single path would not darken where strokes overlap.
 */
export function drawStrokes(ctx: CanvasRenderingContext2D, strokes: readonly Stroke[]): void {
  const widths = strokes.map((s) => {
    const p = constantPressure(s.points);
    return p === null ? null : pressureWidth(s.width, p);
  });
  let i = 0;
  while (i < strokes.length) {
    const first = strokes[i] as Stroke;
    const width = widths[i] ?? null;
    let end = i + 1;
    if (first.colour.length === 7 && width !== null) {
      while (end < strokes.length) {
        const s = strokes[end] as Stroke;
        if (s.tool !== first.tool || s.colour !== first.colour || widths[end] !== width) break;
        end++;
      }
    }
    ctx.save();
    ctx.globalCompositeOperation = first.tool === 'eraser' ? 'destination-out' : 'source-over';
    ctx.strokeStyle = first.colour;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    if (width === null) {
      for (const run of widthRuns(first.width, first.points)) {
        ctx.lineWidth = run.width;
        ctx.beginPath();
        ctx.moveTo(run.path[0] ?? 0, run.path[1] ?? 0);
        for (let j = 2; j < run.path.length; j += 2) ctx.lineTo(run.path[j] ?? 0, run.path[j + 1] ?? 0);
        ctx.stroke();
      }
    } else {
      ctx.lineWidth = width;
      ctx.beginPath();
      for (let k = i; k < end; k++) {
        const points = (strokes[k] as Stroke).points;
        if (points.length < 3) continue;
        ctx.moveTo(points[0] ?? 0, points[1] ?? 0);
        if (points.length === 3) ctx.lineTo((points[0] ?? 0) + 0.01, points[1] ?? 0);
        for (let j = 3; j < points.length; j += 3) ctx.lineTo(points[j] ?? 0, points[j + 1] ?? 0);
      }
      ctx.stroke();
    }
    ctx.restore();
    i = end;
  }
}

/** Draws a shape; `labels: false` leaves a region box's text out (control maps: a box guides, letters would be drawn as letters). */
export function drawShape(ctx: CanvasRenderingContext2D, shape: Shape, labels = true): void {
  ctx.save();
  ctx.strokeStyle = shape.stroke;
  ctx.lineWidth = shape.strokeWidth;
  ctx.beginPath();
  if (shape.type === 'line') {
    ctx.moveTo(shape.x1, shape.y1);
    ctx.lineTo(shape.x2, shape.y2);
  } else if (shape.type === 'ellipse') {
    ctx.ellipse(shape.x + shape.width / 2, shape.y + shape.height / 2, shape.width / 2, shape.height / 2, 0, 0, Math.PI * 2);
  } else {
    ctx.rect(shape.x, shape.y, shape.width, shape.height);
  }
  if (shape.fill && shape.type !== 'line') {
    ctx.fillStyle = shape.fill;
    ctx.fill();
  }
  if (shape.strokeWidth > 0) ctx.stroke();
  if (labels && shape.type === 'region' && shape.label) {
    ctx.fillStyle = shape.stroke;
    ctx.font = `${Math.max(10, Math.min(32, shape.height / 6))}px sans-serif`;
    ctx.textBaseline = 'top';
    ctx.fillText(shape.label, shape.x + 4, shape.y + 4, Math.max(1, shape.width - 8));
  }
  ctx.restore();
}

/** Draws one layer in canvas coordinates (the caller sets the transform). */
export interface DrawOptions {
  /** Region boxes' labels (default true). */
  labels?: boolean;
}

export async function drawLayer(ctx: CanvasRenderingContext2D, layer: Layer, assets: ProjectAssets, size: { width: number; height: number }, options: DrawOptions = {}): Promise<void> {
  if (layer.kind === 'sketch') {
    // Eraser strokes cut only this layer: draw it on its own canvas first.
    const { canvas, ctx: own } = makeCanvas(size.width, size.height);
    own.setTransform(ctx.getTransform());
    drawStrokes(own, layer.strokes);
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalAlpha *= layer.opacity;
    ctx.drawImage(canvas, 0, 0);
    ctx.restore();
    return;
  }
  if (layer.kind === 'shapes') {
    ctx.save();
    ctx.globalAlpha *= layer.opacity;
    for (const shape of layer.shapes) drawShape(ctx, shape, options.labels ?? true);
    ctx.restore();
    return;
  }
  if (layer.kind === 'control') return;
  const src = sourceUrl(layer.image, assets);
  if (!src) throw new Error(`Layer "${layer.name}" refers to missing pixels`);
  const img = await loadImage(src);
  ctx.save();
  ctx.globalAlpha *= layer.opacity;
  // A turned layer (rotated, flipped) is drawn through its placement matrix, as the canvas shows it.
  if (layer.kind !== 'mask' && isTurned(layer)) ctx.transform(...placementMatrix(layer));
  ctx.drawImage(img, layer.x, layer.y, layer.width, layer.height);
  ctx.restore();
}

/**
 * Renders `layers` (bottom first) of the frame's area at out.width × out.height as a PNG,
 * returned as raw base64 (the ImageRef `{ png }` form).
 */
export async function renderFrame(
  doc: ProjectDocument,
  assets: ProjectAssets,
  layers: readonly Layer[],
  frame: Rect,
  out: { width: number; height: number },
  background: string | null,
  options: DrawOptions = {},
): Promise<string> {
  const { canvas, ctx } = makeCanvas(out.width, out.height);
  if (background) {
    ctx.fillStyle = background;
    ctx.fillRect(0, 0, out.width, out.height);
  }
  const sx = out.width / frame.width;
  const sy = out.height / frame.height;
  ctx.setTransform(sx, 0, 0, sy, -frame.x * sx, -frame.y * sy);
  for (const layer of layers) await drawLayer(ctx, layer, assets, out, options);
  void doc;
  return canvas.toDataURL('image/png').slice('data:image/png;base64,'.length);
}

// Paint layers: transparent PNGs the brush and eraser draw into, one new part per stroke.

/** A transparent PNG: a new paint layer's pixels. */
export function blankPaint(width: number, height: number): string {
  return makeCanvas(width, height).canvas.toDataURL('image/png');
}

/**
 * Canvas coordinates → the pixels of a placed raster of `width` × `height`: for a turned layer
 * through the inverse of its placement matrix (canvas → unturned rectangle), then scaled.
 */
export function canvasToPixels(placement: Placement, width: number, height: number): DOMMatrix {
  const sx = width / placement.width;
  const sy = height / placement.height;
  const toPixels = new DOMMatrix([sx, 0, 0, sy, -placement.x * sx, -placement.y * sy]);
  return isTurned(placement) ? toPixels.multiply(new DOMMatrix(placementMatrix(placement)).inverse()) : toPixels;
}

/**
 * Draws a stroke (canvas coordinates) into a placed raster's pixels, as drawStrokes draws it on
 * the canvas (pressure widths; an eraser stroke clears), and returns the new PNG data URL.
 */
export async function paintStroke(src: string, placement: Placement, stroke: Stroke): Promise<string> {
  const img = await loadImage(src);
  const { canvas, ctx } = makeCanvas(img.naturalWidth, img.naturalHeight);
  ctx.drawImage(img, 0, 0);
  // On a turned layer the stroke lands where it shows.
  ctx.setTransform(canvasToPixels(placement, img.naturalWidth, img.naturalHeight));
  drawStrokes(ctx, [stroke]);
  return canvas.toDataURL('image/png');
}

// Masks: stored as opaque grayscale PNGs at canvas size, white = repaint, black = keep (the
// engine's InpaintOptions.mask convention), so exports and the engine read them as they are.

export function blankMask(width: number, height: number, value: 'black' | 'white' = 'black'): string {
  const { canvas, ctx } = makeCanvas(width, height);
  ctx.fillStyle = value === 'black' ? '#000000' : '#ffffff';
  ctx.fillRect(0, 0, width, height);
  return canvas.toDataURL('image/png');
}

async function maskCanvas(src: string, width: number, height: number) {
  const made = makeCanvas(width, height);
  made.ctx.fillStyle = '#000000';
  made.ctx.fillRect(0, 0, width, height);
  made.ctx.drawImage(await loadImage(src), 0, 0, width, height);
  return made;
}

/**
 * Paints (white) or erases (black) a stroke into a mask. Feather softens the edge with a
 * Gaussian blur of that radius (CSS blur(): the standard deviation in pixels).
 */
export async function paintMask(src: string, size: { width: number; height: number }, points: readonly number[], width: number, feather: number, mode: 'paint' | 'erase'): Promise<string> {
  const { canvas, ctx } = await maskCanvas(src, size.width, size.height);
  ctx.save();
  if (feather > 0) ctx.filter = `blur(${feather}px)`;
  ctx.strokeStyle = mode === 'paint' ? '#ffffff' : '#000000';
  ctx.lineWidth = width;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  traceStroke(ctx, points);
  ctx.stroke();
  ctx.restore();
  return canvas.toDataURL('image/png');
}

export async function fillMaskRect(src: string, size: { width: number; height: number }, rect: Rect, feather: number): Promise<string> {
  const { canvas, ctx } = await maskCanvas(src, size.width, size.height);
  if (feather > 0) ctx.filter = `blur(${feather}px)`;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(rect.x, rect.y, rect.width, rect.height);
  return canvas.toDataURL('image/png');
}

/** Adds an area (mask-local pixels) to a mask as white, its edge blurred by `feather`. */
export async function fillMaskArea(src: string, size: { width: number; height: number }, area: MaskArea, feather: number): Promise<string> {
  const { canvas, ctx } = await maskCanvas(src, size.width, size.height);
  if (feather > 0) ctx.filter = `blur(${feather}px)`;
  ctx.fillStyle = '#ffffff';
  ctx.beginPath();
  if (area.kind === 'polygon') {
    ctx.moveTo(area.points[0] ?? 0, area.points[1] ?? 0);
    for (let i = 2; i < area.points.length; i += 2) ctx.lineTo(area.points[i] ?? 0, area.points[i + 1] ?? 0);
    ctx.closePath();
  } else if (area.kind === 'rect') ctx.rect(area.rect.x, area.rect.y, area.rect.width, area.rect.height);
  else ctx.ellipse(area.rect.x + area.rect.width / 2, area.rect.y + area.rect.height / 2, area.rect.width / 2, area.rect.height / 2, 0, 0, Math.PI * 2);
  ctx.fill();
  return canvas.toDataURL('image/png');
}

export async function invertMask(src: string, size: { width: number; height: number }): Promise<string> {
  const { canvas, ctx } = await maskCanvas(src, size.width, size.height);
  ctx.globalCompositeOperation = 'difference';
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, size.width, size.height);
  return canvas.toDataURL('image/png');
}

/** Whether any pixel of the mask asks for repainting. */
export async function maskIsEmpty(src: string, size: { width: number; height: number }): Promise<boolean> {
  const { ctx } = await maskCanvas(src, size.width, size.height);
  const data = ctx.getImageData(0, 0, size.width, size.height).data;
  for (let i = 0; i < data.length; i += 4) if ((data[i] ?? 0) > 8) return false;
  return true;
}

/**
 * A placed raster's pixels kept only where the mask is white (its grey levels become
 * alpha), for cropping a layer to a selection; returns the new PNG data URL.
 */
export async function cropToMask(src: string, placement: Placement, maskSrc: string, maskPlacement: Rect): Promise<string> {
  const img = await loadImage(src);
  const { canvas, ctx } = makeCanvas(img.naturalWidth, img.naturalHeight);
  ctx.drawImage(img, 0, 0);
  // Outside the mask layer nothing is selected: start from none, then the mask's own alpha
  // (seen through the layer's turn when it is rotated or flipped).
  const alpha = makeCanvas(img.naturalWidth, img.naturalHeight);
  alpha.ctx.setTransform(canvasToPixels(placement, img.naturalWidth, img.naturalHeight));
  alpha.ctx.drawImage(await tintMask(maskSrc, '#ffffff'), maskPlacement.x, maskPlacement.y, maskPlacement.width, maskPlacement.height);
  ctx.globalCompositeOperation = 'destination-in';
  ctx.drawImage(alpha.canvas, 0, 0);
  return canvas.toDataURL('image/png');
}

const tinted = new Map<string, Promise<HTMLCanvasElement>>();

/** The mask as a coloured overlay: luminance becomes alpha, painted in `colour`. */
export function tintMask(src: string, colour: string): Promise<HTMLCanvasElement> {
  const key = `${colour}|${src.length}|${src.slice(-64)}|${src.slice(40, 104)}`;
  let promise = tinted.get(key);
  if (!promise) {
    promise = loadImage(src).then((img) => {
      const { canvas, ctx } = makeCanvas(img.naturalWidth, img.naturalHeight);
      ctx.drawImage(img, 0, 0);
      const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
      const r = parseInt(colour.slice(1, 3), 16);
      const g = parseInt(colour.slice(3, 5), 16);
      const b = parseInt(colour.slice(5, 7), 16);
      const d = pixels.data;
      for (let i = 0; i < d.length; i += 4) {
        const alpha = d[i] ?? 0;
        d[i] = r;
        d[i + 1] = g;
        d[i + 2] = b;
        d[i + 3] = alpha;
      }
      ctx.putImageData(pixels, 0, 0);
      return canvas;
    });
    tinted.set(key, promise);
    if (tinted.size > 64) tinted.delete(tinted.keys().next().value as string);
  }
  return promise;
}
