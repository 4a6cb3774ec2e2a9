import { z } from 'zod';
import { GenerationRequest, ModelEntry } from './generation.js';

// StudioApi members of the model manager (docs/models.md, "The model manager"): the models
// with what an artist needs to tell them apart (family, variant, size, hashes, where they came
// from, a preview), imports and Hub downloads run as jobs with progress events, rename, delete
// and per-model generation defaults. `models.list` (generation.ts) stays the picker's list.

const g = GenerationRequest.shape;

/**
 * What picking a model puts into the generation settings; every field optional (absent: the
 * settings keep theirs). `vae` is stored as given (a file, a folder or a name in the models
 * directory's vae/ folder, as GenerationRequest.vae takes it).
 */
export const ModelDefaults = z
  .object({
    width: g.width,
    height: g.height,
    sampler: g.sampler.unwrap().optional(),
    steps: g.steps.unwrap().optional(),
    cfg: g.cfg.unwrap().optional(),
    vae: z.string().trim().min(1).max(4096).optional(),
  })
  .strict();
export type ModelDefaults = z.infer<typeof ModelDefaults>;

/** Where a model came from. */
export const ModelSource = z.object({
  /**
   * bundled: the starter model shipped with Atelier; checkpoint / diffusers-folder: imported
   * from that file or folder (`path`); hub: downloaded from the Hugging Face Hub (`repo`, or
   * the file's `url`); folder: an ONNX folder added where it lies.
   */
  kind: z.enum(['bundled', 'checkpoint', 'diffusers-folder', 'hub', 'folder']),
  path: z.string().optional(),
  repo: z.string().optional(),
  url: z.string().optional(),
  revision: z.string().optional(),
});
export type ModelSource = z.infer<typeof ModelSource>;

export const ManagedModel = ModelEntry.extend({
  family: z.enum(['sd1', 'sd2', 'sdxl', 'unknown']),
  /** e.g. "text to image · epsilon", "inpainting · v-prediction", "LCM". */
  variant: z.string(),
  /** Size of the model folder on disk. */
  bytes: z.number().int().min(0),
  /**
   * The hash history and PNG metadata record: an imported checkpoint's file sha256 (`hashOf`
   * 'file', so `autov2` is A1111's / Civitai's short hash), else the library's hash of the
   * folder's model files. Absent for a model that cannot be opened.
   */
  sha256: z.string().optional(),
  autov2: z.string().optional(),
  hashOf: z.enum(['file', 'folder']).optional(),
  source: ModelSource,
  /** When it was imported or downloaded (ISO time), when known. */
  added: z.string().optional(),
  /** A small preview (data: URL, WebP) of the folder's preview.png/jpg/webp, if it has one. */
  preview: z.string().optional(),
  defaults: ModelDefaults,
  /** Delete removes the folder too (it lies in Atelier's models folder); otherwise it is only taken off the list. */
  ownsFiles: z.boolean(),
});
export type ManagedModel = z.infer<typeof ManagedModel>;

export const ModelJobState = z.enum(['queued', 'running', 'completed', 'failed', 'cancelled']);

/** An import or a download, as `models.job` events and `models.jobs` report it. */
export const ModelJob = z.object({
  jobId: z.string(),
  kind: z.enum(['import', 'download']),
  /** The file, folder, repo id or URL. */
  label: z.string(),
  state: ModelJobState,
  /** hash, text_encoder, unet, vae_encoder, vae_decoder (import), download, done. */
  stage: z.string().optional(),
  /** The whole job's progress when known, 0..1. */
  fraction: z.number().min(0).max(1).optional(),
  /** Download: the file being fetched and its bytes so far / in all. */
  file: z.string().optional(),
  done: z.number().optional(),
  total: z.number().optional(),
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }).optional(),
  /** The model made, once completed. */
  modelId: z.string().optional(),
  modelName: z.string().optional(),
});
export type ModelJob = z.infer<typeof ModelJob>;

const name = z.string().trim().min(1).max(100);

export const modelsMethods = {
  /** Every model with the manager's details (slower than models.list: sizes, hashes, previews). */
  'models.catalog': { params: z.object({}).strict(), result: z.array(ManagedModel) },
  /** Imports a .safetensors checkpoint or a diffusers folder on the studio's machine; progress comes as models.job events. */
  'models.import': {
    params: z.object({ path: z.string().min(1).max(4096), name: name.optional(), prediction: z.enum(['epsilon', 'v_prediction']).optional() }).strict(),
    result: z.object({ jobId: z.string() }),
  },
  /** Downloads a Hub repo ("owner/name") or a .safetensors URL; the token defaults to HF_TOKEN, then settings.json's huggingface.token. */
  'models.download': {
    params: z
      .object({
        ref: z.string().trim().min(1).max(2048),
        name: name.optional(),
        revision: z.string().min(1).max(200).optional(),
        token: z.string().max(500).optional(),
      })
      .strict(),
    result: z.object({ jobId: z.string() }),
  },
  'models.jobs': { params: z.object({}).strict(), result: z.array(ModelJob) },
  /** Stops a queued or running import or download: nothing is left in the models folder; a download's finished bytes stay for a later resume. */
  'models.cancel': { params: z.object({ jobId: z.string().min(1) }).strict(), result: z.object({ cancelled: z.boolean() }) },
  /** The name shown in the picker and the manager (the folder keeps its name). */
  'models.rename': { params: z.object({ id: z.string().min(1), name }).strict(), result: ModelEntry },
  /** Deletes an imported or downloaded model's folder, or takes an added folder off the list. The starter model cannot be deleted. */
  'models.delete': { params: z.object({ id: z.string().min(1) }).strict(), result: z.object({ deleted: z.literal(true), filesRemoved: z.boolean() }) },
  'models.setDefaults': { params: z.object({ id: z.string().min(1), defaults: ModelDefaults }).strict(), result: ModelDefaults },
} as const;

/**
 * Web mode's checkpoint upload (main/web/model-upload.ts, renderer/src/models/upload.ts): the
 * content type its bodies travel as, and the files the importer reads beside a checkpoint
 * (NAME + suffix), which go in the same batch under the checkpoint's stem.
 */
export const CHECKPOINT_CONTENT_TYPE = 'application/x-safetensors';
export const CHECKPOINT_COMPANIONS = ['.atelier.json', '.preview.png', '.yaml'] as const;

export const ModelJobEvent = ModelJob.extend({ type: z.literal('models.job') });
/** The model list changed (an import or download finished, a rename, delete or new defaults): lists refresh. */
export const ModelsChangedEvent = z.object({
  type: z.literal('models.changed'),
  change: z.enum(['added', 'renamed', 'deleted', 'defaults']),
  id: z.string(),
});

export const modelsEvents = [ModelJobEvent, ModelsChangedEvent] as const;
