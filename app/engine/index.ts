// The engine runtime's public surface: load a model folder, run a generation on it.
// The worker (app/engine/worker) and the CLI call these; nothing else reaches inside.
export { inspectControlNet, inspectModel, loadModel } from './model/load.js';
export { InvalidModelError, DeviceUnavailableError } from './model/errors.js';
export { configureEngine } from './model/configure.js';
export { ortCacheDir, pruneOrtCache, type EngineSettings } from './model/ort-cache.js';
export type { LoadedModel, LoadOptions, PipelineImages, PipelineProgress, PipelineResult, EngineCandidate, RgbaImage, RunOptions } from './pipeline/types.js';
export { runPipeline, controlActive } from './pipeline/run.js';
export { GenerationCancelledError, isCancellation } from './pipeline/errors.js';
export { buildClipTextEncoder, buildControlNet, buildUnet, buildVaeDecoder, buildVaeEncoder, safetensorsWeights, writeModel, writePipelineGraphs } from './graph/index.js';
