// Bringing models in (docs/models.md): single-file checkpoints and diffusers folders → model folders.
export { autoV2, checkModelName, importCheckpoint, sha256File } from './import.js';
export type { ImportedModel, ImportHints, ImportOptions, ImportProgress, Prediction } from './import.js';
export { detectCheckpoint } from './detect.js';
export type { CheckpointFamily, DetectedCheckpoint } from './detect.js';
export { writeClipTokenizer } from './clip-vocab.js';
