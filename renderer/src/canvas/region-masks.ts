import type { Layer, MaskLayer, ProjectDocument } from '../../../app/projects/document/index.js';

// Which mask layers are regional prompts and which one is the inpaint mask (docs/canvas.md,
// "Regional prompts"), decided without pixels (no DOM here, so Node tests can read it).

/** A mask layer that carries its own prompt is a region, not an inpaint mask (docs/canvas.md). */
export function isRegionMask(layer: Layer): layer is MaskLayer {
  return layer.kind === 'mask' && (layer.regionPrompt ?? '').trim() !== '';
}

/** The inpaint mask: the topmost visible mask layer that is not a region mask. */
export function inpaintMaskLayer(doc: ProjectDocument): MaskLayer | undefined {
  return [...doc.layers].reverse().find((l): l is MaskLayer => l.kind === 'mask' && l.visible && !isRegionMask(l));
}

/** The visible region masks with a weight above 0, bottom to top. */
export function regionMaskLayers(doc: ProjectDocument): MaskLayer[] {
  return doc.layers.filter((l): l is MaskLayer => isRegionMask(l) && l.visible && (l.regionWeight ?? 1) !== 0);
}

/**
 * The mask the mask tools act on: the selected mask (a region mask too, when the artist chose
 * it), else the inpaint mask — never a region mask picked only for being on top, since its
 * pixels say where a region prompt applies, not what to repaint. Undefined: make one.
 */
export function maskToolTarget(doc: ProjectDocument, selectedId: string | undefined): MaskLayer | undefined {
  const selected = doc.layers.find((l) => l.id === selectedId);
  if (selected?.kind === 'mask' && !selected.locked) return selected;
  const inpaint = inpaintMaskLayer(doc);
  return inpaint && !inpaint.locked ? inpaint : undefined;
}
