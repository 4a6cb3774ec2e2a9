/**
 * Reading other tools' generation metadata out of PNG text chunks, and our own.
 *
 *   parseImportedMetadata(chunks) → ImportedMetadata
 *
 * Detection order: our `atelier` record, A1111/Forge `parameters`, ComfyUI `prompt`
 * (API graph; `workflow` alone is kept but not interpreted), InvokeAI `invokeai_metadata`.
 * Nothing is silently corrected: what has no Atelier equivalent (a sampler we lack, the
 * source image of an img2img run, GPU-drawn noise) becomes a note, and `request` — the
 * request that re-runs the image here — is null when no faithful one exists.
 */
import {
  GenerationRequest,
  type GenerationMode,
  type SamplerName,
  modeOf,
} from '../contract/generation.js';
import type { GenerationSource } from '../contract/library.js';
import { A1111_SAMPLERS, parseA1111Text } from '../formats/a1111.js';

export interface ImportedMetadata {
  source: GenerationSource;
  prompt: string;
  negativePrompt: string;
  modelName: string | null;
  modelHash: string | null;
  /** The sampler as the other tool named it. */
  sampler: string | null;
  steps: number | null;
  cfg: number | null;
  seed: number | null;
  width: number | null;
  height: number | null;
  strength: number | null;
  mode: GenerationMode;
  hasControl: boolean;
  /** What the file said, parsed but untranslated (null when nothing could be read). */
  raw: Record<string, unknown> | null;
  request: GenerationRequest | null;
  notes: string[];
  /** Set for our own records. */
  appVersion?: string | null;
  device?: string | null;
  seedMode?: string | null;
}

const empty = (source: GenerationSource, notes: string[], raw: Record<string, unknown> | null = null): ImportedMetadata => ({
  source,
  prompt: '',
  negativePrompt: '',
  modelName: null,
  modelHash: null,
  sampler: null,
  steps: null,
  cfg: null,
  seed: null,
  width: null,
  height: null,
  strength: null,
  mode: 'txt2img',
  hasControl: false,
  raw,
  request: null,
  notes,
});

export function parseImportedMetadata(chunks: Record<string, string>): ImportedMetadata {
  const attempts: string[] = [];
  const tryParse = (key: string, parse: (text: string) => ImportedMetadata, source: GenerationSource): ImportedMetadata | undefined => {
    const text = chunks[key];
    if (text === undefined) return undefined;
    try {
      return parse(text);
    } catch (error) {
      attempts.push(`${sourceLabel(source)} "${key}" chunk is malformed: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  };
  const found =
    tryParse('atelier', parseAtelierRecord, 'atelier') ??
    tryParse('parameters', parseA1111, 'a1111') ??
    tryParse('prompt', parseComfyPrompt, 'comfyui') ??
    tryParse('invokeai_metadata', parseInvokeAi, 'invokeai');
  if (found) return { ...found, notes: [...attempts, ...found.notes] };
  if (attempts.length > 0) return empty('unknown', [...attempts, 'imported without parameters']);
  if (chunks.workflow !== undefined) {
    return empty('comfyui', ['ComfyUI workflow without its API "prompt" graph: imported without parameters'], safeJsonObject(chunks.workflow));
  }
  const keys = Object.keys(chunks);
  return empty('unknown', [
    keys.length ? `no generation metadata found (text chunks: ${keys.slice(0, 8).join(', ')}); imported without parameters` : 'no generation metadata in the file; imported without parameters',
  ]);
}

function sourceLabel(source: GenerationSource): string {
  return { atelier: 'Atelier', a1111: 'A1111', forge: 'Forge', comfyui: 'ComfyUI', invokeai: 'InvokeAI', unknown: 'Unknown' }[source];
}

function safeJsonObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJsonObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('not valid JSON');
  }
  if (!isObject(value)) throw new Error('not a JSON object');
  return value;
}

const finite = (v: unknown): number | null => {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
};
const integer = (v: unknown): number | null => {
  const n = finite(v);
  return n !== null && Number.isSafeInteger(n) ? n : null;
};
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Builds the request when the fields allow a faithful one; otherwise explains in notes. */
function toRequest(meta: ImportedMetadata, sampler: SamplerName | null, samplerLabel: string | null): GenerationRequest | null {
  if (!sampler) {
    meta.notes.push(samplerLabel ? `sampler "${samplerLabel}" has no Atelier equivalent: parameters kept, no re-runnable request` : 'no sampler recorded: no re-runnable request');
    return null;
  }
  if (meta.seed === null) {
    meta.notes.push('no seed recorded: no re-runnable request');
    return null;
  }
  const candidate = {
    model: meta.modelName ?? 'unknown',
    prompt: meta.prompt,
    negativePrompt: meta.negativePrompt,
    sampler,
    ...(meta.steps !== null ? { steps: meta.steps } : {}),
    ...(meta.cfg !== null ? { cfg: meta.cfg } : {}),
    ...(meta.width !== null ? { width: meta.width } : {}),
    ...(meta.height !== null ? { height: meta.height } : {}),
    seed: meta.seed,
  };
  const parsed = GenerationRequest.safeParse(candidate);
  if (!parsed.success) {
    meta.notes.push(`parameters do not form a valid Atelier request (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`);
    return null;
  }
  if (!meta.modelName) meta.notes.push('the model is not named: recall asks for one');
  if (meta.mode !== 'txt2img') meta.notes.push(`made with ${meta.mode}; the source image is not in the file, so it is recalled as txt2img`);
  if (meta.hasControl) meta.notes.push('made with ControlNet; its control images are not in the file, so it is recalled without them');
  return parsed.data;
}

// ---------------------------------------------------------------------------------------
// Atelier

function parseAtelierRecord(text: string): ImportedMetadata {
  const record = parseJsonObject(text);
  const parsed = GenerationRequest.safeParse(record.request);
  // Early builds wrote { app: 'atelier', request, candidate: { index, seed } }: narrow it the same way.
  const legacy = record.app === 'atelier' && isObject(record.candidate) ? record.candidate : null;
  if ((record.format !== 'atelier' && !legacy) || !parsed.success) throw new Error('not an Atelier record with a valid request');
  const legacySeed = legacy ? integer(legacy.seed) : null;
  const request = legacySeed !== null ? { ...parsed.data, seed: legacySeed, batch: 1 } : parsed.data;
  return {
    source: 'atelier',
    prompt: request.prompt,
    negativePrompt: request.negativePrompt,
    modelName: str(record.modelName),
    modelHash: str(record.modelHash),
    sampler: request.sampler,
    steps: request.steps,
    cfg: request.cfg,
    seed: request.seed,
    width: request.width ?? null,
    height: request.height ?? null,
    strength: modeOf(request) === 'txt2img' ? null : request.strength,
    mode: modeOf(request),
    hasControl: request.controls.length > 0,
    raw: record,
    request,
    notes: [],
    appVersion: str(record.appVersion),
    device: str(record.device),
    seedMode: request.seedMode,
  };
}

// ---------------------------------------------------------------------------------------
// A1111 / Forge: modules/infotext_utils.py parse_generation_parameters

function a1111Sampler(name: string | undefined, schedule: string | undefined): SamplerName | null {
  if (!name) return null;
  let sampler = name;
  let sched = schedule;
  // Before A1111 1.9 the schedule was part of the name ("DPM++ 2M Karras").
  if (sampler.endsWith(' Karras')) {
    sampler = sampler.slice(0, -7);
    sched = 'Karras';
  }
  const plain = !sched || sched === 'Automatic';
  for (const [ours, theirs] of Object.entries(A1111_SAMPLERS) as Array<[SamplerName, { sampler: string; schedule?: string }]>) {
    if (theirs.sampler !== sampler) continue;
    if (theirs.schedule ? theirs.schedule === sched : plain) return ours;
  }
  return null;
}

function parseA1111(text: string): ImportedMetadata {
  const { prompt, negativePrompt, params } = parseA1111Text(text);
  if (Object.keys(params).length === 0 && !prompt) throw new Error('no prompt and no parameters');
  const version = params.Version ?? '';
  const source: GenerationSource = /^f\d/.test(version) || 'Module 1' in params ? 'forge' : 'a1111';
  const size = /^(\d+)x(\d+)$/.exec(params.Size ?? '');
  const strength = finite(params['Denoising strength']);
  const hires = 'Hires upscale' in params || 'Hires resize-1' in params || 'Hires steps' in params;
  const meta: ImportedMetadata = {
    ...empty(source, []),
    prompt,
    negativePrompt,
    modelName: params.Model ?? null,
    modelHash: params['Model hash'] ?? null,
    sampler: params['Schedule type'] && params['Schedule type'] !== 'Automatic' ? `${params.Sampler} (${params['Schedule type']})` : (params.Sampler ?? null),
    steps: integer(params.Steps),
    cfg: finite(params['CFG scale']),
    seed: integer(params.Seed),
    width: size ? Number(size[1]) : null,
    height: size ? Number(size[2]) : null,
    strength,
    mode: strength !== null && !hires ? 'img2img' : 'txt2img',
    hasControl: Object.keys(params).some((k) => /^ControlNet( \d+)?$/.test(k)),
    raw: { prompt, negativePrompt, ...params },
  };
  if (hires) meta.notes.push('made with hires fix; recalled without the upscale pass');
  // A1111/Forge's SDXL refiner names a checkpoint of that machine; recall cannot know which of ours it is.
  if (params.Refiner) meta.notes.push(`made with the SDXL refiner ${params.Refiner}${params['Refiner switch at'] ? ` switching at ${params['Refiner switch at']}` : ''}; recalled without it (pick a refiner under "SDXL refiner")`);
  if (params.RNG !== 'CPU') meta.notes.push(`${sourceLabel(source)} drew the noise on the ${params.RNG ?? 'GPU'}; Atelier draws it like torch on the CPU, so the same seed gives a different image`);
  meta.request = toRequest(meta, a1111Sampler(params.Sampler, params['Schedule type']), meta.sampler);
  // A1111's variation seed ("Variation seed: N, Variation seed strength: S"): the same noise blend (app/engine/rng/variation.ts).
  const variation = GenerationRequest.shape.variation.safeParse({ seed: integer(params['Variation seed']), strength: finite(params['Variation seed strength']) });
  if (meta.request && variation.success && variation.data && variation.data.strength > 0) meta.request = { ...meta.request, variation: variation.data };
  // A1111 names a VAE only when one was chosen over the model's own: recall looks for that file in ATELIER_HOME/vae.
  const vae = params.VAE?.trim();
  if (meta.request && vae && !/[\\/]/.test(vae) && vae.length <= 255) {
    meta.request = { ...meta.request, vae };
    meta.notes.push(`made with the VAE ${vae}: recall uses it from the vae folder of Atelier's data folder`);
  }
  return meta;
}

// ---------------------------------------------------------------------------------------
// ComfyUI: the API-format graph in the `prompt` chunk ({ nodeId: { class_type, inputs } }),
// links as [nodeId, outputIndex].

type ComfyNode = { class_type?: unknown; inputs?: Record<string, unknown> };

const COMFY_SAMPLERS: Record<string, Record<string, SamplerName>> = {
  euler: { normal: 'euler', simple: 'euler' },
  euler_ancestral: { normal: 'euler_a', simple: 'euler_a' },
  ddim: { normal: 'ddim', ddim_uniform: 'ddim', simple: 'ddim' },
  dpmpp_2m: { normal: 'dpmpp_2m', simple: 'dpmpp_2m', karras: 'dpmpp_2m_karras' },
  lcm: { normal: 'lcm', simple: 'lcm', sgm_uniform: 'lcm' },
};

function parseComfyPrompt(text: string): ImportedMetadata {
  const graph = parseJsonObject(text) as Record<string, ComfyNode>;
  const node = (link: unknown): ComfyNode | undefined =>
    Array.isArray(link) && (typeof link[0] === 'string' || typeof link[0] === 'number') && isObject(graph[String(link[0])]) ? graph[String(link[0])] : undefined;
  // A value may be a literal or a link to a node that provides it (primitive, string nodes).
  const resolve = (value: unknown, keys: string[], depth = 0): unknown => {
    if (!Array.isArray(value)) return value;
    const target = node(value);
    if (!target || depth > 16 || !isObject(target.inputs)) return undefined;
    for (const key of keys) if (key in target.inputs) return resolve(target.inputs[key], keys, depth + 1);
    return undefined;
  };
  const samplers = Object.entries(graph)
    .filter(([, n]) => isObject(n) && typeof n.class_type === 'string' && /^KSampler(Advanced)?$/.test(n.class_type) && isObject(n.inputs))
    .sort(([a], [b]) => Number(a) - Number(b) || (a < b ? -1 : 1));
  if (samplers.length === 0) throw new Error('no KSampler node in the graph');
  const sampler = samplers[0]![1].inputs!;
  const textOf = (link: unknown): string => {
    const target = node(link);
    if (!target || !isObject(target.inputs)) return '';
    const t = resolve(target.inputs.text ?? target.inputs.text_g, ['text', 'value', 'string']);
    return typeof t === 'string' ? t : '';
  };
  // The checkpoint: follow the model link through LoRA loaders and the like.
  let ckpt: string | null = null;
  let modelLink: unknown = sampler.model;
  for (let depth = 0; depth < 16 && modelLink; depth++) {
    const n = node(modelLink);
    if (!n || !isObject(n.inputs)) break;
    if (typeof n.inputs.ckpt_name === 'string') {
      ckpt = n.inputs.ckpt_name;
      break;
    }
    modelLink = n.inputs.model;
  }
  const latent = node(sampler.latent_image);
  const latentClass = String(latent?.class_type ?? '');
  const latentInputs = isObject(latent?.inputs) ? latent.inputs : {};
  const denoise = finite(resolve(sampler.denoise, ['value']));
  const isTxt2img = /^Empty(SD3)?LatentImage$/.test(latentClass);
  const samplerName = str(resolve(sampler.sampler_name, ['value', 'sampler_name']));
  const scheduler = str(resolve(sampler.scheduler, ['value', 'scheduler']));
  const seed = integer(resolve(sampler.seed ?? sampler.noise_seed, ['seed', 'noise_seed', 'value']));
  const meta: ImportedMetadata = {
    ...empty('comfyui', []),
    prompt: textOf(sampler.positive),
    negativePrompt: textOf(sampler.negative),
    modelName: ckpt,
    sampler: samplerName ? `${samplerName}${scheduler ? ` (${scheduler})` : ''}` : null,
    steps: integer(resolve(sampler.steps, ['value', 'steps'])),
    cfg: finite(resolve(sampler.cfg, ['value', 'cfg'])),
    seed,
    width: isTxt2img ? integer(resolve(latentInputs.width, ['value', 'width'])) : null,
    height: isTxt2img ? integer(resolve(latentInputs.height, ['value', 'height'])) : null,
    strength: isTxt2img ? null : denoise,
    mode: isTxt2img || !latent ? 'txt2img' : latentClass.includes('Inpaint') || 'noise_mask' in latentInputs ? 'inpaint' : 'img2img',
    hasControl: Object.values(graph).some((n) => isObject(n) && typeof n.class_type === 'string' && n.class_type.startsWith('ControlNetApply')),
    raw: { prompt: graph },
  };
  if (samplers.length > 1) meta.notes.push(`the graph has ${samplers.length} samplers; parameters are those of the first (node ${samplers[0]![0]})`);
  if (isTxt2img && denoise !== null && denoise < 1) meta.notes.push(`txt2img with denoise ${denoise}: Atelier always denoises fully`);
  meta.request = toRequest(meta, samplerName ? (COMFY_SAMPLERS[samplerName]?.[scheduler ?? 'normal'] ?? null) : null, meta.sampler);
  return meta;
}

// ---------------------------------------------------------------------------------------
// InvokeAI: `invokeai_metadata` (core metadata; 3.x model {model_name, base_model},
// 4.x/5.x model {key, hash, name, base, type}).

const INVOKE_SAMPLERS: Record<string, SamplerName> = {
  ddim: 'ddim',
  euler: 'euler',
  euler_a: 'euler_a',
  dpmpp_2m: 'dpmpp_2m',
  dpmpp_2m_k: 'dpmpp_2m_karras',
  lcm: 'lcm',
};

function parseInvokeAi(text: string): ImportedMetadata {
  const m = parseJsonObject(text);
  if (!('positive_prompt' in m) && !('seed' in m)) throw new Error('no positive_prompt or seed');
  const model = isObject(m.model) ? m.model : {};
  const modeText = str(m.generation_mode) ?? 'txt2img';
  const mode: GenerationMode = modeText.includes('inpaint') || modeText.includes('outpaint') ? 'inpaint' : modeText.includes('img2img') ? 'img2img' : 'txt2img';
  const scheduler = str(m.scheduler);
  const meta: ImportedMetadata = {
    ...empty('invokeai', []),
    prompt: str(m.positive_prompt) ?? '',
    negativePrompt: str(m.negative_prompt) ?? '',
    modelName: str(model.name) ?? str(model.model_name),
    modelHash: str(model.hash),
    sampler: scheduler,
    steps: integer(m.steps),
    cfg: finite(m.cfg_scale),
    seed: integer(m.seed),
    width: integer(m.width),
    height: integer(m.height),
    strength: mode === 'txt2img' ? null : finite(m.strength),
    mode,
    hasControl: (Array.isArray(m.controlnets) && m.controlnets.length > 0) || (Array.isArray(m.controlLayers) && m.controlLayers.length > 0),
    raw: m,
  };
  if (m.rand_device !== undefined && m.rand_device !== 'cpu') meta.notes.push(`InvokeAI drew the noise on the ${String(m.rand_device)}; Atelier draws it like torch on the CPU`);
  meta.request = toRequest(meta, scheduler ? (INVOKE_SAMPLERS[scheduler] ?? null) : null, scheduler);
  return meta;
}
