import type { GenerationRequestInput, ImageRef } from '../../contract/index.js';
import type { GenerationSettings } from '../../contract/projects.js';

/**
 * A generation request as the document keeps it: canvas pixels sent inline as `{ png }` are
 * replaced by a marker (the document holds them as parts: the mask snapshot, the layers),
 * while library (`sha256`) and file references stay as they are.
 */
export function requestForDocument(request: GenerationRequestInput): Record<string, unknown> {
  const image = (ref: ImageRef | undefined) => (ref && 'png' in ref ? { png: '(canvas)' } : ref);
  return JSON.parse(
    JSON.stringify({
      ...request,
      init: image(request.init),
      inpaint: request.inpaint ? { ...request.inpaint, mask: image(request.inpaint.mask) } : undefined,
      controls: request.controls?.map((c) => ({ ...c, image: image(c.image) })),
      regions: request.regions?.map((r) => ({ ...r, mask: image(r.mask) })),
    }),
  ) as Record<string, unknown>;
}

/** The request fields that settings hold under the same name and meaning. */
const SHARED_FIELDS = ['model', 'prompt', 'negativePrompt', 'sampler', 'steps', 'cfg', 'width', 'height', 'seedMode', 'batch', 'device'] as const;

/** What the canvas adds to the settings at generate time. */
export interface RequestInputs {
  /** img2img source; the settings' strength applies only with one. */
  init?: ImageRef;
  /** Inpainting mask (white = repaint); the settings' mask options apply only with one. */
  mask?: ImageRef;
  controls?: GenerationRequestInput['controls'];
  /** Regional prompts (the canvas's region boxes). */
  regions?: GenerationRequestInput['regions'];
  parentCandidateId?: string;
  projectId?: string;
}

/**
 * The one mapping from generation settings to a GenerationRequest: the settings' own fields,
 * the seed this run uses (the seed policy decides it, see renderer/src/prompt/seeds.ts), and
 * the images the canvas supplies. Strength goes with an init image and the mask options with
 * a mask, so a request carries only what acts on it (and the library records only that).
 */
export function requestFromSettings(settings: GenerationSettings, seed: number, inputs: RequestInputs = {}): GenerationRequestInput {
  const request: GenerationRequestInput = { model: settings.model, prompt: settings.prompt, seed };
  for (const key of SHARED_FIELDS) Object.assign(request, { [key]: settings[key] });
  if (inputs.init) Object.assign(request, { init: inputs.init, strength: settings.strength });
  if (inputs.mask) request.inpaint = { mask: inputs.mask, blur: settings.maskBlur, onlyMasked: settings.onlyMasked, padding: settings.maskPadding };
  // The SDXL refiner hands off text-to-image and img2img runs; inpainting goes without it (docs/engine.md).
  if (settings.refiner && !inputs.mask) request.refiner = settings.refiner;
  if (settings.vae) request.vae = settings.vae;
  // SDXL's micro-conditioning; the aesthetic scores only where a refiner runs (they condition its five time ids)
  const micro = settings.sdxlConditioning && conditioningFor(settings.sdxlConditioning, request.refiner !== undefined);
  if (micro) request.sdxlConditioning = micro;
  if (inputs.controls && inputs.controls.length > 0) request.controls = inputs.controls;
  if (inputs.regions && inputs.regions.length > 0) request.regions = inputs.regions;
  if (inputs.parentCandidateId !== undefined) request.parentCandidateId = inputs.parentCandidateId;
  if (inputs.projectId !== undefined) request.projectId = inputs.projectId;
  return request;
}

/** The micro-conditioning a request carries: the fields set, the aesthetic scores only with a refiner; undefined when nothing is left. */
function conditioningFor(c: NonNullable<GenerationSettings['sdxlConditioning']>, refiner: boolean): GenerationSettings['sdxlConditioning'] {
  const { aestheticScore, negativeAestheticScore, ...sizes } = c;
  const out = { ...sizes, ...(refiner && aestheticScore !== undefined ? { aestheticScore } : {}), ...(refiner && negativeAestheticScore !== undefined ? { negativeAestheticScore } : {}) };
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Recall, the inverse: a stored request back into settings. The seed policy becomes 'fixed'
 * so the next generation reproduces it; what the request does not say keeps `base`.
 */
export function settingsFromRequest(base: GenerationSettings, request: Partial<GenerationRequestInput>): GenerationSettings {
  const next: GenerationSettings = { ...base, seedPolicy: 'fixed' };
  for (const key of SHARED_FIELDS) {
    const value = request[key];
    if (value !== undefined) Object.assign(next, { [key]: value });
  }
  if (request.seed !== undefined) next.seed = request.seed;
  // A recalled run had a refiner or had none: either way it replaces the panel's (an explicit
  // undefined, so that settings merged over the panel's drop the old one).
  next.refiner = request.refiner ? { model: request.refiner.model, switchAt: request.refiner.switchAt ?? 0.8 } : undefined;
  // The same for a swapped VAE: recall restores it, or the model's own.
  if (request.vae) next.vae = request.vae;
  else delete next.vae;
  // and its micro-conditioning, or diffusers' defaults
  if (request.sdxlConditioning) next.sdxlConditioning = request.sdxlConditioning;
  else delete next.sdxlConditioning;
  if (request.strength !== undefined) next.strength = request.strength;
  const inpaint = request.inpaint;
  if (inpaint) {
    if (inpaint.blur !== undefined) next.maskBlur = inpaint.blur;
    if (inpaint.onlyMasked !== undefined) next.onlyMasked = inpaint.onlyMasked;
    if (inpaint.padding !== undefined) next.maskPadding = inpaint.padding;
  }
  return next;
}
