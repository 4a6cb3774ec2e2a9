import { type Layer, type ProjectDocument, addLayer, createLayer, updateLayer } from '../../../app/projects/document/index.js';
import { loadImage, makeCanvas } from '../canvas/raster.js';
import { topmostContentIndex } from './actions.js';
import { type DocumentSession } from './document.js';
import { type StagedCandidate, type StudioController, errorMessage } from './studio.js';

// Per-region candidate mixing (docs: issue 15): after a batch, each region box of the
// document takes its winner from any candidate — the candidate's pixels inside the box, as a
// generated layer over it, linked to the candidate (generationId, candidateId) — and cycles
// through the batch's other candidates in place. Candidates cover the generation frame, so
// a box is cut from where it lies in the frame.

export interface RegionBox {
  id: string;
  label: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The visible region boxes of the document, top layer last. */
export function regionBoxes(doc: ProjectDocument): RegionBox[] {
  const boxes: RegionBox[] = [];
  for (const layer of doc.layers) {
    if (layer.kind !== 'shapes' || !layer.visible) continue;
    for (const shape of layer.shapes) {
      if (shape.type === 'region') boxes.push({ id: shape.id, label: shape.label, x: shape.x, y: shape.y, width: shape.width, height: shape.height });
    }
  }
  return boxes;
}

function layerName(region: RegionBox): string {
  return `Region “${region.label || 'unlabelled'}”`;
}

/** The generated layer holding a region's winner: named for it and lying exactly on it. */
export function regionLayer(doc: ProjectDocument, region: RegionBox): Extract<Layer, { kind: 'generated' }> | undefined {
  return doc.layers.find(
    (l): l is Extract<Layer, { kind: 'generated' }> => l.kind === 'generated' && l.name === layerName(region) && l.x === region.x && l.y === region.y && l.width === region.width && l.height === region.height,
  );
}

/** The candidate's pixels inside the box (as a PNG data URL), from where the box lies in the generation frame. */
async function cut(candidate: StagedCandidate, region: RegionBox, frame: { x: number; y: number; width: number; height: number }): Promise<string> {
  const img = await loadImage(candidate.url);
  const sx = img.naturalWidth / frame.width;
  const sy = img.naturalHeight / frame.height;
  const w = Math.max(1, Math.round(region.width * sx));
  const h = Math.max(1, Math.round(region.height * sy));
  const { canvas, ctx } = makeCanvas(w, h);
  ctx.drawImage(img, (region.x - frame.x) * sx, (region.y - frame.y) * sy, region.width * sx, region.height * sy, 0, 0, w, h);
  return canvas.toDataURL('image/png');
}

/** Makes `candidate` the region's winner: a new layer, or the region's layer changed in place (one undo step). */
export async function chooseForRegion(studio: StudioController, session: DocumentSession, region: RegionBox, candidate: StagedCandidate): Promise<void> {
  try {
    const { frame, settings } = studio.state;
    const image = session.addAsset(await cut(candidate, region, { x: frame.x, y: frame.y, width: settings.width, height: settings.height }));
    const link = { image, generationId: candidate.generationId, candidateId: candidate.id };
    const existing = regionLayer(session.doc, region);
    if (existing) {
      session.history.change((doc) => updateLayer(doc, existing.id, 'generated', link), `Region ${region.label}: seed ${candidate.seed}`);
      return;
    }
    const layer = createLayer('generated', { name: layerName(region), x: region.x, y: region.y, width: region.width, height: region.height, ...link });
    session.history.change((doc) => addLayer(doc, layer, topmostContentIndex(doc.layers)), `Region ${region.label}: seed ${candidate.seed}`);
  } catch (error) {
    studio.toast('error', `Could not use the candidate for the region: ${errorMessage(error)}`);
  }
}

/** The next candidate of the batch for the region (the first when it has none of them yet). */
export async function cycleRegion(studio: StudioController, session: DocumentSession, region: RegionBox, batch: readonly StagedCandidate[]): Promise<void> {
  if (batch.length === 0) return;
  const current = regionLayer(session.doc, region)?.candidateId;
  const at = batch.findIndex((c) => c.id === current);
  await chooseForRegion(studio, session, region, batch[(at + 1) % batch.length]!);
}
