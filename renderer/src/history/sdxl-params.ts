import type { GenerationRequest, ModelEntry } from '../../../app/contract/index.js';

// The SDXL parts of a history entry's parameters (docs/engine.md, "SDXL"): the refiner by its
// model's name (a registered id is shown as the name the artist gave it) and the switch, and
// the micro-conditioning the request set. Absent fields are the defaults and are not listed.

export function sdxlParams(request: GenerationRequest | null, models: ModelEntry[]): Array<[string, string]> {
  if (!request) return [];
  const out: Array<[string, string]> = [];
  if (request.refiner) {
    const ref = request.refiner.model;
    const name = models.find((m) => m.id === ref)?.name ?? ref.split(/[\\/]/).filter(Boolean).pop() ?? ref;
    out.push(['refiner', `${name} · switch at ${request.refiner.switchAt}`]);
  }
  const mc = request.sdxlConditioning;
  if (mc?.originalSize) out.push(['original size', `${mc.originalSize.width}×${mc.originalSize.height}`]);
  if (mc?.crop) out.push(['crop top-left', `${mc.crop.top}, ${mc.crop.left}`]);
  if (mc?.targetSize) out.push(['target size', `${mc.targetSize.width}×${mc.targetSize.height}`]);
  if (mc?.aestheticScore !== undefined) out.push(['aesthetic score', String(mc.aestheticScore)]);
  if (mc?.negativeAestheticScore !== undefined) out.push(['negative aesthetic score', String(mc.negativeAestheticScore)]);
  return out;
}
