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
 * `init` and `mask` may be at the artist's size: runPipeline fits them to the generation size
 * (cover), and for inpainting pastes the result back over `init` through the feathered mask —
 * after generating only the padded mask box when `request.inpaint.onlyMasked`. A caller that
 * crops and pastes back itself should pass the crop with `onlyMasked: false`, or the box is
 * cropped twice.
 */
export interface PipelineImages {
  init?: RgbaImage;
  mask?: RgbaImage;
  /** One per request.controls, in the same order: control maps already preprocessed. */
  controls?: RgbaImage[];
}

export interface PipelineProgress {
  candidateIndex: number;
  /** 1-based. */
  step: number;
  totalSteps: number;
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
}

export interface LoadOptions {
  device: DeviceChoice;
  /** ControlNet folders to load with the model (others are loaded on demand by path). */
  controlnets?: string[];
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
