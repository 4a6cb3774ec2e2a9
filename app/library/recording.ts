import fs from 'node:fs';
import sharp from 'sharp';
import { ApiError } from '../contract/errors.js';
import { GenerationRequest, type GenerationRequestInput, type ImageRef, modeOf } from '../contract/generation.js';
import type { GenerationRecord, GenerationStatus } from '../contract/library.js';
import { DEFAULT_PNG_LIMITS, PNG_SIGNATURE, PngMetadataError } from '../formats/png-metadata.js';
import { stampPng } from '../formats/stamp.js';
import { newId } from './ids.js';
import type { StoredImageWithBytes } from './image-store.js';
import { type LibraryDb, getRecord, insertCandidate, insertGeneration, insertImage, upsertModel, upsertProject } from './rows.js';

// Recording a generation: its input images and candidates become content-addressed files
// first (each candidate's PNG stamped with its metadata), then one transaction adds the rows
// that point to them, so a crash leaves at worst unreferenced files, never a dangling row.

export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export type RecordedCandidate = { index: number; seed: number } & ({ png: Buffer } | { image: RgbaImage });

export interface RecordGenerationInput {
  /** Parsed (or parseable) request: what was asked. */
  request: GenerationRequest | GenerationRequestInput;
  modelName?: string | null;
  /** Content hash of the model as loaded (Library.modelHash(dir) computes and caches one). */
  modelHash?: string | null;
  /** A1111's "Lora hashes" for the PNG parameters, when the prompt used LoRAs. */
  loraHashes?: string;
  /** A1111's "Refiner" value ("name [hash]") for the PNG parameters, when an SDXL refiner ran. */
  refiner?: string;
  /** A1111's "VAE hash" and "VAE" (the file name) for the PNG parameters, when the request swapped the VAE. */
  vaeHash?: string;
  vaeName?: string;
  device?: string | null;
  appVersion?: string | null;
  /** Milliseconds by phase; `total` becomes the duration. */
  timings?: Record<string, number>;
  status?: Exclude<GenerationStatus, 'imported'>;
  error?: string | null;
  candidates: RecordedCandidate[];
  createdAt?: Date | number;
}

export async function recordGeneration(lib: LibraryDb, input: RecordGenerationInput): Promise<GenerationRecord> {
  const request = GenerationRequest.parse(input.request);
  const createdAt = input.createdAt instanceof Date ? input.createdAt.getTime() : (input.createdAt ?? Date.now());
  const generationId = newId('generation', createdAt);
  // Inputs (init, mask, control images) are stored too and the request points to them
  // by hash, so recall re-runs from the same pixels even after the files move.
  const { request: storedRequest, inputs } = await storeInputs(lib, request);
  const candidates: Array<{ id: string; index: number; seed: number; image: StoredImageWithBytes }> = [];
  for (const candidate of input.candidates) {
    const id = newId('candidate', createdAt);
    // Bytes handed in already carry what their maker stamped; pixels get our stamp here.
    const png =
      'png' in candidate
        ? candidate.png
        : stampPng(candidate.image, {
            request: storedRequest,
            seed: candidate.seed,
            width: candidate.image.width,
            height: candidate.image.height,
            index: candidate.index,
            generationId,
            candidateId: id,
            modelName: input.modelName ?? null,
            modelHash: input.modelHash ?? null,
            device: input.device ?? null,
            appVersion: input.appVersion ?? null,
            createdAt: new Date(createdAt).toISOString(),
            ...(input.loraHashes ? { loraHashes: input.loraHashes } : {}),
            ...(input.refiner ? { refiner: input.refiner } : {}),
            ...(input.vaeHash ? { vaeHash: input.vaeHash } : {}),
            ...(input.vaeName ? { vaeName: input.vaeName } : {}),
          });
    candidates.push({ id, index: candidate.index, seed: candidate.seed, image: await storeImage(lib, png) });
  }
  const first = candidates[0]?.image;
  lib.db.transaction(() => {
    const modelId = upsertModel(lib, request.model, input.modelName ?? null, input.modelHash ?? null);
    if (request.projectId) upsertProject(lib, request.projectId);
    insertGeneration(lib, {
      id: generationId,
      created_at: createdAt,
      status: input.status ?? 'completed',
      source: 'atelier',
      mode: modeOf(request),
      prompt: request.prompt,
      negative_prompt: request.negativePrompt,
      model: request.model,
      model_id: modelId,
      model_name: input.modelName ?? null,
      model_hash: input.modelHash ?? null,
      sampler: request.sampler,
      steps: request.steps,
      cfg: request.cfg,
      seed: request.seed,
      seed_mode: request.seedMode,
      batch: request.batch,
      width: request.width ?? first?.width ?? null,
      height: request.height ?? first?.height ?? null,
      strength: modeOf(request) === 'txt2img' ? null : request.strength,
      has_control: request.controls.length > 0 ? 1 : 0,
      request_json: JSON.stringify(storedRequest),
      device: input.device ?? null,
      app_version: input.appVersion ?? null,
      timings_json: input.timings ? JSON.stringify(input.timings) : null,
      duration_ms: input.timings?.total ?? null,
      error: input.error ?? null,
      imported_json: null,
      import_note: null,
      parent_candidate_id: request.parentCandidateId ?? null,
      project_id: request.projectId ?? null,
    });
    for (const [role, image] of inputs) {
      lib.images.ensureFiles(image);
      insertImage(lib, image);
      lib.db.prepare('INSERT INTO generation_inputs (generation_id, role, image_sha256) VALUES (?, ?, ?)').run(generationId, role, image.sha256);
    }
    for (const c of candidates) {
      lib.images.ensureFiles(c.image);
      insertImage(lib, c.image);
      insertCandidate(lib, c.id, generationId, c.index, c.seed, c.image.sha256, createdAt);
    }
  })();
  return getRecord(lib, generationId);
}

/** Stores PNG bytes as a content-addressed image (and thumbnail); no row yet. */
export async function storeImage(lib: LibraryDb, png: Buffer): Promise<StoredImageWithBytes> {
  try {
    return await lib.images.store(png);
  } catch (error) {
    if (error instanceof PngMetadataError) throw new ApiError('invalid_file', error.message, { reason: error.reason });
    throw error;
  }
}

async function storeInputs(lib: LibraryDb, request: GenerationRequest): Promise<{ request: GenerationRequest; inputs: Map<string, StoredImageWithBytes> }> {
  const inputs = new Map<string, StoredImageWithBytes>();
  const store = async (ref: ImageRef, role: string): Promise<ImageRef> => {
    if ('sha256' in ref) return ref;
    const bytes = 'path' in ref ? await fs.promises.readFile(ref.path) : Buffer.from(ref.png, 'base64');
    const png = bytes.subarray(0, 8).equals(PNG_SIGNATURE)
      ? bytes
      : await sharp(bytes, { limitInputPixels: DEFAULT_PNG_LIMITS.maxPixels }).png().toBuffer();
    const image = await storeImage(lib, png);
    inputs.set(role, image);
    return { sha256: image.sha256 };
  };
  const out: GenerationRequest = { ...request };
  if (request.init) out.init = await store(request.init, 'init');
  if (request.inpaint) out.inpaint = { ...request.inpaint, mask: await store(request.inpaint.mask, 'mask') };
  out.controls = [];
  for (const [i, control] of request.controls.entries()) out.controls.push({ ...control, image: await store(control.image, `control${i}`) });
  if (request.regions) {
    out.regions = [];
    for (const [i, region] of request.regions.entries()) out.regions.push({ ...region, mask: await store(region.mask, `region${i}`) });
  }
  return { request: out, inputs };
}
