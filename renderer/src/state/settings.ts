import type { GenerationRequestInput, SamplerName } from '../../../app/contract/index.js';
import type { SeedPolicy } from '../prompt/seeds.js';

/** What the prompt panel edits: a GenerationRequest's fields plus how seeds advance. */
export interface GenerationSettings {
  model: string;
  prompt: string;
  negativePrompt: string;
  sampler: SamplerName;
  steps: number;
  cfg: number;
  seed: number;
  seedPolicy: SeedPolicy;
  width: number;
  height: number;
  batch: number;
  /** img2img strength (refine): 0 keeps the source, 1 ignores it. */
  strength: number;
  /** Inpainting: feather of the mask edge in pixels. */
  maskBlur: number;
  onlyMasked: boolean;
  maskPadding: number;
}

export const defaultSettings: GenerationSettings = {
  model: 'starter',
  prompt: '',
  negativePrompt: '',
  sampler: 'euler_a',
  steps: 20,
  cfg: 7,
  seed: 1,
  seedPolicy: 'random',
  width: 512,
  height: 512,
  batch: 4,
  strength: 0.6,
  maskBlur: 4,
  onlyMasked: false,
  maskPadding: 32,
};

/** The fields of a request that the settings decide (images are added by the caller). */
export function requestFromSettings(s: GenerationSettings, seed: number): GenerationRequestInput {
  return {
    model: s.model,
    prompt: s.prompt,
    negativePrompt: s.negativePrompt,
    sampler: s.sampler,
    steps: s.steps,
    cfg: s.cfg,
    width: s.width,
    height: s.height,
    seed,
    batch: s.batch,
  };
}

/** Recall: a stored request back into the panel (seed policy becomes fixed so it reproduces). */
export function settingsFromRequest(base: GenerationSettings, r: Partial<GenerationRequestInput>): GenerationSettings {
  return {
    ...base,
    model: r.model ?? base.model,
    prompt: r.prompt ?? base.prompt,
    negativePrompt: r.negativePrompt ?? base.negativePrompt,
    sampler: r.sampler ?? base.sampler,
    steps: r.steps ?? base.steps,
    cfg: r.cfg ?? base.cfg,
    seed: r.seed ?? base.seed,
    seedPolicy: 'fixed',
    width: r.width ?? base.width,
    height: r.height ?? base.height,
    batch: r.batch ?? base.batch,
    strength: r.strength ?? base.strength,
  };
}

/** Parameters that differ between two requests, for the compare view. */
export function parameterDiff(a: Record<string, unknown>, b: Record<string, unknown>): Array<{ key: string; a: string; b: string }> {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !['init', 'inpaint', 'controls'].includes(k)).sort();
  const show = (v: unknown) => (v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));
  return keys.filter((k) => show(a[k]) !== show(b[k])).map((k) => ({ key: k, a: show(a[k]), b: show(b[k]) }));
}
