import type { GenerationRequestInput, ModelEntry } from '../../../app/contract/index.js';
import type { Layer, MaskLayer, ProjectAssets, ProjectDocument } from '../../../app/projects/document/index.js';
import { canvasInFrame } from './outpaint.js';
import { makeCanvas, maskIsEmpty, renderFrame, sourceUrl } from './raster.js';
import { inpaintMaskLayer, regionMaskLayers } from './region-masks.js';
import { controlSourceLayers, controlWarning, controlnetFor, hasMarks, pictureLayers } from './sources.js';
import type { Rect } from './viewport.js';

// The images a request carries, rendered from the canvas at the generation frame: control maps
// of the control layers, the init image (what the artist sees in the frame) and the mask.

type ControlInput = NonNullable<GenerationRequestInput['controls']>[number];
type RegionInput = NonNullable<GenerationRequestInput['regions']>[number];

export interface CanvasView {
  doc: ProjectDocument;
  assets: ProjectAssets;
  /** The generation frame in canvas pixels. */
  frame: Rect;
  /** The generation size (the frame renders to it). */
  out: { width: number; height: number };
}

/**
 * The control maps of the visible control layers, and the layers left out with the reason
 * (shown to the artist: nothing is dropped silently). A sketch's map holds every mark, strokes
 * and shapes, as dark ink on white (the engine's scribble preprocessing turns it over).
 */
export async function renderControls(view: CanvasView, model: ModelEntry | undefined): Promise<{ controls: ControlInput[]; skipped: string[] }> {
  const { doc } = view;
  const controls: ControlInput[] = [];
  const skipped: string[] = [];
  for (const layer of doc.layers) {
    if (layer.kind !== 'control' || !layer.visible) continue;
    let drawn: Layer[];
    if (layer.sourceLayerId) {
      drawn = controlSourceLayers(doc, layer);
      const marks = drawn.every((l) => l.kind === 'sketch' || l.kind === 'shapes');
      // An empty sketch guides nothing (and would hold the model to a blank page).
      if (drawn.length === 0 || (marks && !hasMarks(drawn))) continue;
    } else if (layer.image) {
      // A control map of its own covers the canvas.
      drawn = [{ kind: 'reference', id: layer.id, name: layer.name, visible: true, locked: false, opacity: 1, image: layer.image, x: 0, y: 0, width: doc.canvas.width, height: doc.canvas.height, source: null }];
    } else continue;
    const warning = controlWarning(layer, model);
    const controlnet = controlnetFor(layer, model);
    if (warning || !controlnet) {
      skipped.push(warning ?? `“${layer.name}” is not used: no ControlNet for it`);
      continue;
    }
    const sketchLike = drawn.every((l) => l.kind === 'sketch' || l.kind === 'shapes');
    const png = await renderFrame(doc, view.assets, drawn.map((l) => ({ ...l, visible: true })), view.frame, view.out, sketchLike ? '#ffffff' : '#000000', { labels: false });
    controls.push({
      type: layer.controlType,
      model: controlnet,
      image: { png },
      preprocess: layer.preprocess,
      weight: layer.weight,
      start: layer.start,
      end: layer.end,
      ...(layer.preprocess === 'canny' ? { cannyLow: layer.cannyLow, cannyHigh: layer.cannyHigh } : {}),
    });
  }
  return { controls, skipped };
}

/**
 * Regional prompts (docs/canvas.md), in layer order: every visible labelled region box with a
 * weight above 0 becomes a region — its label the prompt, its box a white mask at the frame
 * (the engine feathers it) — and so does every visible mask layer with a region prompt, its
 * pixels white-on-black at the frame as the inpaint mask renders. A box wholly outside the
 * frame, or a mask with nothing painted, acts nowhere and is left out.
 */
export async function renderRegions(view: CanvasView): Promise<RegionInput[]> {
  const { frame, out } = view;
  const sx = out.width / frame.width;
  const sy = out.height / frame.height;
  const regions: RegionInput[] = [];
  const masks = new Set(regionMaskLayers(view.doc));
  for (const layer of view.doc.layers) {
    if (layer.kind === 'mask' && masks.has(layer)) {
      const src = sourceUrl(layer.image, view.assets);
      if (!src || (await maskIsEmpty(src, layer))) continue;
      const png = await renderFrame(view.doc, view.assets, [{ ...layer, opacity: 1 }], frame, out, '#000000');
      regions.push({ mask: { png }, prompt: (layer.regionPrompt ?? '').trim(), weight: layer.regionWeight ?? 1 });
      continue;
    }
    if (layer.kind !== 'shapes' || !layer.visible) continue;
    for (const s of layer.shapes) {
      if (s.type !== 'region' || !s.label.trim() || (s.weight ?? 1) === 0) continue;
      const x0 = Math.max(0, Math.round((Math.min(s.x, s.x + s.width) - frame.x) * sx));
      const y0 = Math.max(0, Math.round((Math.min(s.y, s.y + s.height) - frame.y) * sy));
      const x1 = Math.min(out.width, Math.round((Math.max(s.x, s.x + s.width) - frame.x) * sx));
      const y1 = Math.min(out.height, Math.round((Math.max(s.y, s.y + s.height) - frame.y) * sy));
      if (x1 <= x0 || y1 <= y0) continue;
      const { canvas, ctx } = makeCanvas(out.width, out.height);
      ctx.fillStyle = '#000000';
      ctx.fillRect(0, 0, out.width, out.height);
      ctx.fillStyle = '#ffffff';
      ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
      const png = canvas.toDataURL('image/png').slice('data:image/png;base64,'.length);
      regions.push({ mask: { png }, prompt: s.label.trim(), weight: s.weight ?? 1 });
    }
  }
  return regions;
}

/**
 * The init image: what the artist sees inside the frame (paint, sketches, references, accepted
 * candidates, imported pictures; not masks or control layers) on the canvas background, at
 * the generation size. `extra` adds layers to the picture (a candidate refined without
 * being accepted onto the canvas).
 */
export async function renderInit(view: CanvasView, extra: Layer[] = []): Promise<string> {
  const layers = pictureLayers(view.doc);
  // Right above the topmost candidate or reference: paint-overs and sketches above it stay on top.
  let at = 0;
  layers.forEach((l, i) => {
    if (l.kind === 'generated' || l.kind === 'reference') at = i + 1;
  });
  return renderFrame(view.doc, view.assets, [...layers.slice(0, at), ...extra, ...layers.slice(at)], view.frame, view.out, view.doc.canvas.background);
}

/**
 * The inpaint mask's pixels at the frame (the topmost visible mask layer that is not a region
 * mask), or undefined when nothing is masked.
 */
export async function renderMask(view: CanvasView): Promise<{ layer: MaskLayer; png: string } | undefined> {
  const mask = inpaintMaskLayer(view.doc);
  if (!mask) return undefined;
  const src = sourceUrl(mask.image, view.assets);
  if (!src || (await maskIsEmpty(src, mask))) return undefined;
  const png = await renderFrame(view.doc, view.assets, [{ ...mask, opacity: 1 }], view.frame, view.out, '#000000');
  return { layer: mask, png };
}

/**
 * Outpainting's images at the frame: the init image is the canvas's picture with its edge
 * pixels stretched over the part of the frame past the canvas (so the generation continues
 * the colours at the edge), and the mask is white there and black over the canvas. The white
 * starts `keep` pixels out from the edge: the engine feathers the mask by the settings' mask
 * blur (a Gaussian), and this margin keeps that feather off the old pixels, which come back
 * exactly as they were.
 */
export async function renderOutpaint(view: CanvasView, keep: number): Promise<{ init: string; mask: string }> {
  const inside = canvasInFrame(view.doc, view.frame);
  if (inside.width === 0 || inside.height === 0) throw new Error('The frame does not reach the canvas: move it over the picture to extend it');
  const picture = await renderInit(view);
  const img = new Image();
  img.src = `data:image/png;base64,${picture}`;
  await img.decode();
  const { width, height } = view.out;
  const sx = width / view.frame.width;
  const sy = height / view.frame.height;
  const r = { x: Math.round(inside.x * sx), y: Math.round(inside.y * sy), width: Math.round(inside.width * sx), height: Math.round(inside.height * sy) };
  const { canvas, ctx } = makeCanvas(width, height);
  ctx.imageSmoothingEnabled = false;
  // Edges and corners stretched outward, then the picture itself.
  const right = width - (r.x + r.width);
  const bottom = height - (r.y + r.height);
  const strips: Array<[number, number, number, number, number, number, number, number]> = [
    [r.x, r.y, r.width, 1, r.x, 0, r.width, r.y],
    [r.x, r.y + r.height - 1, r.width, 1, r.x, r.y + r.height, r.width, bottom],
    [r.x, r.y, 1, r.height, 0, r.y, r.x, r.height],
    [r.x + r.width - 1, r.y, 1, r.height, r.x + r.width, r.y, right, r.height],
    [r.x, r.y, 1, 1, 0, 0, r.x, r.y],
    [r.x + r.width - 1, r.y, 1, 1, r.x + r.width, 0, right, r.y],
    [r.x, r.y + r.height - 1, 1, 1, 0, r.y + r.height, r.x, bottom],
    [r.x + r.width - 1, r.y + r.height - 1, 1, 1, r.x + r.width, r.y + r.height, right, bottom],
  ];
  for (const [a, b, c, d, e, f, g, h] of strips) if (g > 0 && h > 0) ctx.drawImage(img, a, b, c, d, e, f, g, h);
  ctx.drawImage(img, r.x, r.y, r.width, r.height, r.x, r.y, r.width, r.height);
  const init = canvas.toDataURL('image/png').slice('data:image/png;base64,'.length);

  const m = makeCanvas(width, height);
  m.ctx.fillStyle = '#ffffff';
  m.ctx.fillRect(0, 0, width, height);
  m.ctx.fillStyle = '#000000';
  // Black over the canvas and `keep` pixels beyond it on the sides the frame extends.
  const grow = (edge: number) => (edge > 0 ? Math.min(keep, edge) : 0);
  m.ctx.fillRect(r.x - grow(r.x), r.y - grow(r.y), r.width + grow(r.x) + grow(right), r.height + grow(r.y) + grow(bottom));
  const mask = m.canvas.toDataURL('image/png').slice('data:image/png;base64,'.length);
  return { init, mask };
}
