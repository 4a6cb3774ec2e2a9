import type { GenerationRequestInput, ModelEntry } from '../../../app/contract/index.js';
import type { Layer, MaskLayer, ProjectAssets, ProjectDocument } from '../../../app/projects/document/index.js';
import { maskIsEmpty, renderFrame, sourceUrl } from './raster.js';
import { controlSourceLayers, controlWarning, controlnetFor, hasMarks, pictureLayers } from './sources.js';
import type { Rect } from './viewport.js';

// The images a request carries, rendered from the canvas at the generation frame: control maps
// of the control layers, the init image (what the artist sees in the frame) and the mask.

type ControlInput = NonNullable<GenerationRequestInput['controls']>[number];

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

/** The topmost visible mask layer's pixels at the frame, or undefined when nothing is masked. */
export async function renderMask(view: CanvasView): Promise<{ layer: MaskLayer; png: string } | undefined> {
  const mask = [...view.doc.layers].reverse().find((l): l is MaskLayer => l.kind === 'mask' && l.visible);
  if (!mask) return undefined;
  const src = sourceUrl(mask.image, view.assets);
  if (!src || (await maskIsEmpty(src, mask))) return undefined;
  const png = await renderFrame(view.doc, view.assets, [{ ...mask, opacity: 1 }], view.frame, view.out, '#000000');
  return { layer: mask, png };
}
