import { type Layer, type ProjectDocument, newId } from '../../../../app/projects/document/index.js';
import type { NewLayer } from './types.js';

// Where a mark goes (docs/canvas.md, "Where a mark goes"). Pure: the document and the
// selection in, a layer to draw into, a layer to make, or a refusal with the reason out.
//
// - A sketch or paint layer that is selected takes brush marks; a shapes layer takes shapes.
// - A candidate or reference cannot take paint: the brush makes a paint layer right above it
//   and selects it, so the paint is seen where it is painted and goes into the next refine.
// - A hidden or locked selected layer refuses, and says so: a stroke never lands unseen.
// - With nothing suitable selected, marks go to the topmost layer of the kind that nothing
//   opaque covers, else a new one on top of the picture (below masks and controls).

export type Target = { layerId: string } | { create: NewLayer } | { refuse: string };

/** Layers whose pixels are pictures: they cover what lies under them. */
const PICTURE_KINDS: ReadonlySet<Layer['kind']> = new Set(['paint', 'reference', 'generated']);

/** Position above the picture and below masks and control layers (overlays stay on top). */
export function topmostContentIndex(layers: readonly Layer[]): number {
  let index = layers.length;
  while (index > 0 && (layers[index - 1]?.kind === 'mask' || layers[index - 1]?.kind === 'control')) index--;
  return index;
}

function selected(doc: ProjectDocument, selection: readonly string[]): Layer | undefined {
  const id = selection[0];
  return id ? doc.layers.find((l) => l.id === id) : undefined;
}

/** Why this layer takes no marks now, or null when it does. */
export function refusal(layer: Layer): string | null {
  if (!layer.visible) return `“${layer.name}” is hidden: show it to draw on it`;
  if (layer.locked) return `“${layer.name}” is locked: unlock it to draw on it`;
  return null;
}

/** Whether a visible picture layer lies above `index`. */
function covered(doc: ProjectDocument, index: number): boolean {
  return doc.layers.slice(index + 1).some((l) => l.visible && l.opacity > 0 && PICTURE_KINDS.has(l.kind));
}

/** The topmost visible, unlocked, uncovered layer of one of `kinds`. */
function topmostUncovered(doc: ProjectDocument, kinds: ReadonlySet<Layer['kind']>): Layer | undefined {
  for (let i = doc.layers.length - 1; i >= 0; i--) {
    const layer = doc.layers[i] as Layer;
    if (kinds.has(layer.kind) && layer.visible && !layer.locked && !covered(doc, i)) return layer;
  }
  return undefined;
}

function make(kind: NewLayer['kind'], index: number): Target {
  return { create: { kind, id: newId('l'), index } };
}

/** The layer of `kind` right above `index` when it takes marks, else a new one there: switching tools back and forth does not pile up layers. */
function aboveOrNew(doc: ProjectDocument, index: number, kind: NewLayer['kind']): Target {
  const above = doc.layers[index + 1];
  return above && above.kind === kind && !refusal(above) ? { layerId: above.id } : make(kind, index + 1);
}

const MARKS: ReadonlySet<Layer['kind']> = new Set(['sketch', 'paint']);

/** The layer a brush or eraser stroke goes into. */
export function brushTarget(doc: ProjectDocument, selection: readonly string[], tool: 'brush' | 'eraser'): Target {
  let layer = selected(doc, selection);
  // A control layer stands for its source: drawing with it selected draws into the sketch it reads.
  if (layer?.kind === 'control' && layer.sourceLayerId) {
    const source = layer.sourceLayerId;
    layer = doc.layers.find((l) => l.id === source);
  }
  if (layer) {
    const why = refusal(layer);
    if (why && (MARKS.has(layer.kind) || PICTURE_KINDS.has(layer.kind))) return { refuse: why };
    if (MARKS.has(layer.kind)) return { layerId: layer.id };
    if (layer.kind === 'generated' || layer.kind === 'reference') {
      if (tool === 'eraser') return { refuse: `“${layer.name}” keeps its pixels: erase on a paint or sketch layer, or mask it and refine` };
      return aboveOrNew(doc, doc.layers.indexOf(layer), 'paint');
    }
  }
  const top = topmostUncovered(doc, tool === 'eraser' ? MARKS : new Set(['sketch']));
  if (top) return { layerId: top.id };
  if (tool === 'eraser') return { refuse: 'Nothing to erase: select a sketch or paint layer' };
  const picture = doc.layers.some((l) => l.visible && PICTURE_KINDS.has(l.kind));
  return make(picture ? 'paint' : 'sketch', topmostContentIndex(doc.layers));
}

/** The shapes layer a line, rectangle, ellipse or region box goes into. */
export function shapeTarget(doc: ProjectDocument, selection: readonly string[]): Target {
  const layer = selected(doc, selection);
  if (layer?.kind === 'shapes') return refusal(layer) ? { refuse: refusal(layer) as string } : { layerId: layer.id };
  if (layer && (MARKS.has(layer.kind) || PICTURE_KINDS.has(layer.kind))) {
    const why = refusal(layer);
    if (why) return { refuse: why };
    return aboveOrNew(doc, doc.layers.indexOf(layer), 'shapes');
  }
  const top = topmostUncovered(doc, new Set(['shapes']));
  return top ? { layerId: top.id } : make('shapes', topmostContentIndex(doc.layers));
}
