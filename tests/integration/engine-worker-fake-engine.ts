// A stand-in engine for worker tests (loaded through ATELIER_WORKER_ENGINE_MODULE, which the
// worker honours only with its test hooks on). It keeps the real engine's contract: progress
// per step, cancellation between steps, typed errors, one image per candidate — with steps
// that take a known, short time so cancel and crash timing can be tested on a busy machine.
import { ApiError, type GenerationRequest } from '../../app/contract/index.js';
import type { LoadOptions, LoadedModel, PipelineImages, PipelineResult, RunOptions } from '../../app/engine/pipeline/types.js';

let loads = 0;
let releases = 0;
const STEP_MS = Number(process.env.FAKE_ENGINE_STEP_MS ?? 25);

export async function loadModel(dir: string, opts: LoadOptions): Promise<LoadedModel> {
  if (dir.includes('invalid')) throw new ApiError('invalid_model', `${dir}: unet/model.onnx is missing`, { part: 'unet/model.onnx' });
  loads++;
  return {
    info: { path: dir } as LoadedModel['info'],
    device: opts.device === 'auto' ? 'cpu' : opts.device,
    release: async () => {
      releases++;
    },
  };
}

export async function runPipeline(model: LoadedModel, request: GenerationRequest, images: PipelineImages, opts: RunOptions = {}): Promise<PipelineResult> {
  const width = request.width ?? 16;
  const height = request.height ?? 16;
  for (let step = 1; step <= request.steps; step++) {
    if (opts.signal?.aborted) throw new ApiError('cancelled', `Cancelled at step ${step}`);
    await new Promise((r) => setTimeout(r, STEP_MS));
    const latentPreview = { width: 2, height: 2, data: new Uint8Array(16).fill(step) };
    opts.onProgress?.({ candidateIndex: 0, step, totalSteps: request.steps, latentPreview });
  }
  const candidates = Array.from({ length: request.batch }, (_, index) => {
    const data = new Uint8Array(width * height * 4).fill((request.seed + index) % 256);
    for (let i = 3; i < data.length; i += 4) data[i] = 255; // opaque, as decoded images are
    // Echo the first control map's first pixel so tests can see the images crossed the process boundary.
    if (images.controls?.[0]) data[0] = images.controls[0].data[0]!;
    return { index, seed: request.seed + index, image: { width, height, data } };
  });
  return { candidates, device: model.device, timings: { total: request.steps * STEP_MS, loads, releases } };
}
