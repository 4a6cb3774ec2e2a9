import type { DeviceChoice, GenerationRequest, ModelInfo } from '../../contract/index.js';

// The engine runtime's surface, shared with the worker (app/engine/worker) and the
// generation service: images in and out are plain RGBA, the request is the parsed contract.

export interface RgbaImage {
  width: number;
  height: number;
  /** RGBA, row-major, 4 bytes per pixel. */
  data: Uint8Array;
}

/**
 * `init` and `mask` are fitted to the generation size when they differ (img2img: cover;
 * inpainting: stretched, and the result stretched back). Inpainting results are the decoded
 * image as it is: the paste over `init` through the mask feathered by `inpaint.blur`, and
 * `inpaint.onlyMasked` cropping, are the caller's — app/service/generation-images.ts (fitInputs
 * / pasteGenerated), as the generation service and `atelier generate` do, once.
 */
export interface PipelineImages {
  init?: RgbaImage;
  mask?: RgbaImage;
  /** One per request.controls, in the same order: control maps already preprocessed. */
  controls?: RgbaImage[];
  /** One per request.regions, in the same order: white = the region; stretched to the generation size. */
  regions?: RgbaImage[];
}

export interface PipelineProgress {
  candidateIndex: number;
  /** 1-based. */
  step: number;
  totalSteps: number;
  /**
   * Candidate-steps done over the whole request (batch × totalSteps in all). Candidates that
   * share a UNet batch advance together, so candidateIndex × totalSteps + step is not it (the
   * engine always sets it; a stand-in may not).
   */
  completed?: number;
  /** Cheap latent→RGB linear map at latent resolution; present every few steps. */
  latentPreview?: RgbaImage;
}

export interface EngineCandidate {
  index: number;
  seed: number;
  image: RgbaImage;
}

export interface PipelineResult {
  candidates: EngineCandidate[];
  /** Execution provider that ran the UNet (cpu, cuda, webgpu, …). */
  device: string;
  /** Milliseconds: tokenize, textEncoder, unetStepMean, unetStepMin, unetStepMax, unetTotal, vaeEncode, vaeDecode, total. */
  timings: Record<string, number>;
}

export interface RunOptions {
  onProgress?: (p: PipelineProgress) => void;
  signal?: AbortSignal;
  /**
   * The most candidates denoised in one UNet call per step (pipeline/batching.ts); default: the
   * provider's memory budget (ATELIER_CANDIDATE_BATCH for the whole process).
   */
  candidateBatch?: number;
  /**
   * Classifier-free guidance as two UNet calls per step (uncond, then cond) instead of one of
   * twice the batch; default: for large generations on the CPU (pipeline/batching.ts
   * splitGuidance; ATELIER_SPLIT_GUIDANCE for the whole process). The images are the same.
   */
  splitGuidance?: boolean;
}

export interface LoadOptions {
  device: DeviceChoice;
  /** ControlNet folders to load with the model (others are loaded on demand by path). */
  controlnets?: string[];
  /**
   * SDXL: open the text encoders and the VAE only for their phase of each run, and close them
   * after it (less held while the UNet runs and between runs; seconds more per run to reopen).
   * Undefined: when the model's weights exceed a quarter of the machine's memory (docs/engine.md, "Memory").
   */
  phaseSessions?: boolean;
}

/** A model folder with its ONNX sessions open. */
export interface LoadedModel {
  readonly info: ModelInfo;
  /** Execution provider the sessions run on. */
  readonly device: string;
  /** Frees every session (the model's and its ControlNets'). */
  release(): Promise<void>;
}

/** app/engine/index.ts exports functions of these shapes. */
export type RunPipeline = (model: LoadedModel, request: GenerationRequest, images: PipelineImages, opts?: RunOptions) => Promise<PipelineResult>;
export type LoadModel = (dir: string, opts: LoadOptions) => Promise<LoadedModel>;
/** Reads configs + ONNX metadata without keeping sessions; throws InvalidModelError naming the missing/invalid part. */
export type InspectModel = (dir: string) => Promise<ModelInfo>;
