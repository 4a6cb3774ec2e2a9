import { z } from 'zod';

// StudioApi members for models and generation jobs, and the generation request itself —
// the one description of "what to make" shared by the engine, the library (records,
// recall), projects (generation settings) and the UI.

export const SamplerName = z.enum(['ddim', 'euler', 'euler_a', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm']);
export type SamplerName = z.infer<typeof SamplerName>;

/** How seeds become noise. torch_cpu: equal to torch.randn on a CPU torch.Generator. */
export const SeedMode = z.enum(['torch_cpu']);
export type SeedMode = z.infer<typeof SeedMode>;

export const DeviceChoice = z.enum(['auto', 'cpu', 'webgpu', 'cuda', 'dml', 'coreml']);
export type DeviceChoice = z.infer<typeof DeviceChoice>;

/** Largest seed: JavaScript's safe integers (torch seeds are 64-bit; A1111's 32-bit fit). */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/**
 * An image handed to the engine: a file path (CLI, desktop), PNG bytes as base64 (web
 * mode), or an image already in the library by its SHA-256.
 */
export const ImageRef = z.union([
  z.object({ path: z.string().min(1) }).strict(),
  z.object({ png: z.string().min(1) }).strict(),
  z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
]);
export type ImageRef = z.infer<typeof ImageRef>;

export const ControlType = z.enum(['scribble', 'canny', 'lineart', 'softedge', 'depth', 'pose', 'other']);
export type ControlType = z.infer<typeof ControlType>;

export const ControlInput = z
  .object({
    type: ControlType,
    /** ControlNet folder (or a registered model id). */
    model: z.string().min(1),
    image: ImageRef,
    /** How the image becomes the control map: as given, Canny edges, or a scribble map from a sketch. */
    preprocess: z.enum(['none', 'canny', 'scribble']).default('none'),
    cannyLow: z.number().min(0).max(255).default(100),
    cannyHigh: z.number().min(0).max(255).default(200),
    weight: z.number().min(0).max(2).default(1),
    /** Fractions of the denoising steps during which this ControlNet acts. */
    start: z.number().min(0).max(1).default(0),
    end: z.number().min(0).max(1).default(1),
  })
  .strict()
  .refine((c) => c.start <= c.end, { message: 'control start must not exceed end' });
export type ControlInput = z.infer<typeof ControlInput>;

export const InpaintOptions = z
  .object({
    /** White = repaint. */
    mask: ImageRef,
    /** Feather of the mask edge in pixels (Gaussian blur radius). */
    blur: z.number().min(0).max(64).default(4),
    /** Generate only the masked region's bounding box at full resolution, then paste it back. */
    onlyMasked: z.boolean().default(false),
    /** Context around the masked region when onlyMasked, in pixels. */
    padding: z.number().int().min(0).max(512).default(32),
  })
  .strict();
export type InpaintOptions = z.infer<typeof InpaintOptions>;

/**
 * A regional prompt (docs/canvas.md, "Regional prompts"): inside the mask's white area the
 * region's own prompt conditions the picture, the base prompt covers the rest.
 */
export const RegionPrompt = z
  .object({
    /** White = the region (grey = partly); stretched to the generation size. */
    mask: ImageRef,
    prompt: z.string().max(10_000),
    /** 0: the base prompt alone there; 1: the region's prompt replaces it; above 1: pushed past it. */
    weight: z.number().min(0).max(2).default(1),
    /** Feather of the region's edge in pixels (Gaussian σ), so regions meet without a seam. */
    feather: z.number().min(0).max(128).default(16),
  })
  .strict();
export type RegionPrompt = z.infer<typeof RegionPrompt>;

const PixelSize = z.object({ width: z.number().int().min(1).max(16_384), height: z.number().int().min(1).max(16_384) }).strict();

/**
 * SDXL's micro-conditioning (diffusers' original_size, crops_coords_top_left, target_size,
 * aesthetic_score, negative_aesthetic_score): what the UNet is told about the picture it makes.
 * Omitted: the generation size for both sizes, crop (0, 0), aesthetic scores 6 and 2.5. The
 * aesthetic scores condition a refiner (five time ids) only; the negative's sizes and crop are
 * the positive's, as diffusers has them when no negative_* is given.
 */
export const SdxlConditioning = z
  .object({
    /** The size the picture "was" before any resize: a small one looks upscaled, a large one sharp. */
    originalSize: PixelSize.optional(),
    /** Pixels cropped off the top and left: (0, 0) centres the subject; more reads as a cropped photo. */
    crop: z.object({ top: z.number().int().min(0).max(16_384), left: z.number().int().min(0).max(16_384) }).strict().optional(),
    targetSize: PixelSize.optional(),
    aestheticScore: z.number().min(0).max(10).optional(),
    negativeAestheticScore: z.number().min(0).max(10).optional(),
  })
  .strict();
export type SdxlConditioning = z.infer<typeof SdxlConditioning>;

export const GenerationRequest = z
  .object({
    /** Model folder or registered model id ('starter' is the bundled one). */
    model: z.string().min(1),
    prompt: z.string().max(10_000),
    negativePrompt: z.string().max(10_000).default(''),
    sampler: SamplerName.default('euler_a'),
    steps: z.number().int().min(1).max(200).default(20),
    cfg: z.number().min(0).max(50).default(7),
    /** Pixels; must be a multiple of 8 (or of what the model needs). Omitted: the model's default. */
    width: z.number().int().min(64).max(4096).optional(),
    height: z.number().int().min(64).max(4096).optional(),
    seed: z.number().int().min(0).max(MAX_SEED),
    seedMode: SeedMode.default('torch_cpu'),
    /** Candidate k uses seed + k, so it equals a single run with that seed (with a variation: see there). */
    batch: z.number().int().min(1).max(16).default(1),
    /**
     * A1111's variation seed ("subseed"): the starting noise is the seed's slerped toward this
     * seed's by `strength` (0: the seed's alone, 1: the variation seed's). With a variation,
     * every candidate keeps `seed` and candidate k uses variation seed + k, as A1111 does.
     */
    variation: z.object({ seed: z.number().int().min(0).max(MAX_SEED), strength: z.number().min(0).max(1) }).strict().optional(),
    /** img2img / inpainting source. */
    init: ImageRef.optional(),
    /** img2img strength: 0 keeps the init image, 1 ignores it. */
    strength: z.number().min(0).max(1).default(0.75),
    inpaint: InpaintOptions.optional(),
    controls: z.array(ControlInput).max(4).default([]),
    /** Regional prompts; each costs one more UNet (and ControlNet) pass per step. */
    regions: z.array(RegionPrompt).max(8).optional(),
    /**
     * SDXL base → refiner hand-off (diffusers' denoising_end / denoising_start): the base runs
     * the schedule's first `switchAt` fraction, the refiner (an SDXL refiner folder) the rest.
     */
    refiner: z.object({ model: z.string().min(1), switchAt: z.number().gt(0).lt(1).default(0.8) }).strict().optional(),
    /** SDXL micro-conditioning (docs/engine.md, "SDXL"); an omitted field is diffusers' default. */
    sdxlConditioning: SdxlConditioning.optional(),
    /**
     * A VAE used for this generation instead of the model's own (docs/models.md, "VAE swap"):
     * a `.safetensors` VAE file, a diffusers VAE folder, or the name of a VAE file in
     * ATELIER_HOME/vae (as LoRAs live in ATELIER_HOME/loras). Omitted: the model's own VAE.
     */
    vae: z.string().min(1).max(4096).optional(),
    device: DeviceChoice.default('auto'),
    /** Lineage: the candidate this generation refines. */
    parentCandidateId: z.string().optional(),
    projectId: z.string().optional(),
    /**
     * A live preview (docs: issue 15, live mode): not recorded in the library and not kept in
     * the queue's journal; its candidates come back inline (a data: URL) in job.completed.
     */
    preview: z.boolean().optional(),
  })
  .strict()
  .refine((r) => !r.inpaint || r.init, { message: 'inpainting needs an init image', path: ['init'] });
export type GenerationRequest = z.infer<typeof GenerationRequest>;
export type GenerationRequestInput = z.input<typeof GenerationRequest>;

export const GenerationMode = z.enum(['txt2img', 'img2img', 'inpaint']);
export type GenerationMode = z.infer<typeof GenerationMode>;

export function modeOf(request: Pick<GenerationRequest, 'init' | 'inpaint'>): GenerationMode {
  return request.inpaint ? 'inpaint' : request.init ? 'img2img' : 'txt2img';
}

/** What the engine detected in a model folder. */
export const ModelInfo = z.object({
  path: z.string(),
  family: z.enum(['sd1', 'sd2', 'sdxl', 'unknown']),
  prediction: z.enum(['epsilon', 'v_prediction']),
  unetInChannels: z.number().int(),
  inpainting: z.boolean(),
  lcm: z.boolean(),
  acceptsControlnet: z.boolean(),
  textEmbedDim: z.number().int(),
  defaultWidth: z.number().int(),
  defaultHeight: z.number().int(),
  /** Pixel sizes must be a multiple of this. */
  sizeMultiple: z.number().int(),
  /** Sizes to offer, native size first: SDXL's aspect buckets around the family's native size (docs/engine.md). */
  sizePresets: z.array(z.object({ width: z.number().int(), height: z.number().int() })).optional(),
  dtype: z.enum(['float32', 'float16']),
  components: z.record(z.string(), z.object({ path: z.string(), inputs: z.array(z.string()), outputs: z.array(z.string()) })),
  controlnets: z.array(z.string()),
  /** The control map each of `controlnets` takes, from its config.json (app/engine/model/controlnet-type.ts); absent: unknown. */
  controlnetTypes: z.record(z.string(), ControlType).optional(),
  notes: z.array(z.string()),
});
export type ModelInfo = z.infer<typeof ModelInfo>;

export const ModelEntry = z.object({
  id: z.string(),
  name: z.string(),
  path: z.string(),
  builtIn: z.boolean(),
  valid: z.boolean(),
  error: z.string().optional(),
  info: ModelInfo.optional(),
});
export type ModelEntry = z.infer<typeof ModelEntry>;

export const JobState = z.enum(['queued', 'running', 'completed', 'failed', 'cancelled']);
export const JobSummary = z.object({
  jobId: z.string(),
  state: JobState,
  request: GenerationRequest,
  queuedAt: z.string(),
  step: z.number().int().optional(),
  totalSteps: z.number().int().optional(),
});
export type JobSummary = z.infer<typeof JobSummary>;

export const CandidateSummary = z.object({
  id: z.string(),
  seed: z.number().int(),
  index: z.number().int(),
  sha256: z.string(),
  width: z.number().int(),
  height: z.number().int(),
  /** URL path (web) or atelier:// URL (desktop) the UI can show. */
  url: z.string(),
});
export type CandidateSummary = z.infer<typeof CandidateSummary>;

export const generationMethods = {
  'models.list': { params: z.object({}).strict(), result: z.array(ModelEntry) },
  'models.add': { params: z.object({ path: z.string().min(1), name: z.string().optional() }).strict(), result: ModelEntry },
  'models.remove': { params: z.object({ id: z.string() }).strict(), result: z.object({ removed: z.boolean() }) },
  'models.inspect': { params: z.object({ path: z.string().min(1) }).strict(), result: ModelInfo },
  generate: { params: z.object({ request: GenerationRequest }).strict(), result: z.object({ jobId: z.string() }) },
  'jobs.cancel': { params: z.object({ jobId: z.string() }).strict(), result: z.object({ cancelled: z.boolean() }) },
  'jobs.list': { params: z.object({}).strict(), result: z.array(JobSummary) },
} as const;

export const JobQueuedEvent = z.object({ type: z.literal('job.queued'), jobId: z.string(), position: z.number().int() });
export const JobStartedEvent = z.object({ type: z.literal('job.started'), jobId: z.string(), device: z.string(), totalSteps: z.number().int() });
export const JobProgressEvent = z.object({
  type: z.literal('job.progress'),
  jobId: z.string(),
  /** 1-based step within the current candidate batch. */
  step: z.number().int(),
  totalSteps: z.number().int(),
  elapsedMs: z.number(),
  etaMs: z.number().optional(),
  /** A small PNG (base64) of the current latents through a cheap latent→RGB map. */
  preview: z.string().optional(),
});
export const JobCompletedEvent = z.object({
  type: z.literal('job.completed'),
  jobId: z.string(),
  generationId: z.string(),
  candidates: z.array(CandidateSummary),
});
export const JobFailedEvent = z.object({
  type: z.literal('job.failed'),
  jobId: z.string(),
  cancelled: z.boolean(),
  error: z.object({ code: z.string(), message: z.string() }),
});

export const generationEvents = [JobQueuedEvent, JobStartedEvent, JobProgressEvent, JobCompletedEvent, JobFailedEvent] as const;
