// Bringing models in (docs/models.md): single-file checkpoints and diffusers folders → model folders.
export { autoV2, checkModelName, importCheckpoint, sha256File } from './import.js';
export type { ImportedModel, ImportHints, ImportOptions, ImportProgress, Prediction } from './import.js';
export { detectCheckpoint } from './detect.js';
export type { CheckpointFamily, DetectedCheckpoint } from './detect.js';
export { writeClipTokenizer } from './clip-vocab.js';
export { LoraError, loraDeltas, readLora } from './lora.js';
export type { LoraDelta, LoraFile, LoraNetwork, ModelWeights } from './lora.js';
export { applyLoras } from './lora-apply.js';
export type { LoraUse, PatchedModel } from './lora-apply.js';
export { applyEmbeddings, embeddingTokens, readEmbedding } from './embeddings.js';
export type { EmbeddedModel, Embedding } from './embeddings.js';
export { swapVae } from './vae-swap.js';
export type { SwappedVae, VaeSwapOptions } from './vae-swap.js';
