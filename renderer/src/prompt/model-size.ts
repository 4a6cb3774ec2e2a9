import type { ModelEntry, ModelInfo } from '../../../app/contract/index.js';
import type { GenerationSettings } from '../state/settings.js';

// Model families and their sizes in the prompt panel (docs/engine.md, "sizes"): each model's
// native size and size presets (ModelInfo.sizePresets: SDXL's aspect buckets around the
// family's native size), what picking another model does to the frame, and which models may
// serve as an SDXL refiner.

type Size = { width: number; height: number };

const FAMILY: Record<ModelInfo['family'], string> = { sd1: 'SD 1.x', sd2: 'SD 2.x', sdxl: 'SDXL', unknown: '' };

/** "SDXL · 1024×1024" — the family (when known) and the native size, for the model picker's groups. */
export function familyLabel(info: ModelInfo | undefined): string {
  // A model with SD's layout whose sizes match no named family (the starter) is "SD-style".
  if (!info) return 'SD-style';
  const family = FAMILY[info.family];
  const vpred = info.family === 'sd2' && info.prediction === 'v_prediction' ? ' v-prediction' : '';
  const kind = info.inpainting ? ' inpainting' : '';
  return `${family ? `${family}${vpred}${kind}` : kind ? kind.trim() : 'SD-style'} · ${info.defaultWidth}×${info.defaultHeight}`;
}

/** Models grouped by family and native size, in the order first seen (the starter's group first). */
export function modelGroups(models: ModelEntry[]): Array<{ label: string; models: ModelEntry[] }> {
  const groups = new Map<string, ModelEntry[]>();
  for (const m of models) {
    const label = m.valid ? familyLabel(m.info) : 'unusable';
    groups.set(label, [...(groups.get(label) ?? []), m]);
  }
  return [...groups].map(([label, list]) => ({ label, models: list }));
}

/** The model's presets, native size first (a model inspected before presets existed: its native size alone). */
export function sizePresets(info: ModelInfo | undefined): Size[] {
  if (!info) return [];
  return info.sizePresets && info.sizePresets.length > 0 ? info.sizePresets : [{ width: info.defaultWidth, height: info.defaultHeight }];
}

/** The preset whose aspect is nearest the frame's (log ratio, so 2:1 and 1:2 are equally far from 1:1). */
export function presetForAspect(presets: Size[], frame: Size): Size | undefined {
  const aspect = Math.log(frame.width / frame.height);
  let best: Size | undefined;
  let bestDistance = Infinity;
  for (const p of presets) {
    const d = Math.abs(Math.log(p.width / p.height) - aspect);
    if (d < bestDistance - 1e-9) {
      best = p;
      bestDistance = d;
    }
  }
  return best;
}

/** Landscape, portrait or square, and the ratio in small numbers where it has them ("4:3"). */
export function aspectName(s: Size): string {
  if (s.width === s.height) return 'square';
  const r = s.width / s.height;
  const named: Array<[number, string]> = [[4 / 3, '4:3'], [3 / 2, '3:2'], [16 / 9, '16:9'], [2, '2:1'], [12 / 5, '12:5'], [5 / 4, '5:4'], [7 / 4, '7:4'], [9 / 7, '9:7']];
  const wide = r > 1 ? r : 1 / r;
  const near = named.find(([v]) => Math.abs(v - wide) / v < 0.03);
  const ratio = near ? (r > 1 ? near[1] : near[1].split(':').reverse().join(':')) : r.toFixed(2);
  return `${r > 1 ? 'landscape' : 'portrait'} ${ratio}`;
}

/**
 * The settings after picking model `id`: a frame at one of the old model's sizes (its native
 * size or a preset, or the panel's untouched default) goes to the new model's preset nearest its
 * aspect — an SD 1.x 512² frame becomes SDXL's 1024², its 640×448 SDXL's 1216×832 — while a
 * frame the artist sized by hand stays as it is. A refiner and SDXL's micro-conditioning stay
 * only while the model is SDXL.
 */
export function settingsForModel(settings: GenerationSettings, models: ModelEntry[], id: string, panelDefault: Size): Partial<GenerationSettings> {
  const patch: Partial<GenerationSettings> = { model: id };
  const before = models.find((m) => m.id === settings.model)?.info;
  const after = models.find((m) => m.id === id)?.info;
  if (!after) return patch;
  const frame = { width: settings.width, height: settings.height };
  const at = (s: Size) => frame.width === s.width && frame.height === s.height;
  if (sizePresets(before).some(at) || at(panelDefault)) {
    const next = presetForAspect(sizePresets(after), frame)!;
    if (!at(next)) {
      patch.width = next.width;
      patch.height = next.height;
    }
  }
  // SDXL's own settings do not apply to another family (the engine would refuse them)
  if (after.family !== 'sdxl') {
    patch.refiner = undefined;
    patch.sdxlConditioning = undefined;
  }
  return patch;
}

/**
 * Models that can refine `base`'s latents (docs/engine.md, "base → refiner"): SDXL, a
 * 4-channel UNet, not the base itself. SDXL's own refiner (one text encoder, aesthetic
 * score) comes first.
 */
export function refinerCandidates(models: ModelEntry[], base: string): ModelEntry[] {
  const usable = models.filter((m) => m.valid && m.id !== base && m.info?.family === 'sdxl' && m.info.unetInChannels === 4);
  const isRefiner = (m: ModelEntry) => !('text_encoder' in (m.info?.components ?? {}));
  return [...usable.filter(isRefiner), ...usable.filter((m) => !isRefiner(m))];
}
