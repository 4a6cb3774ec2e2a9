import fs from 'node:fs';
import path from 'node:path';
import { ApiError } from '../contract/errors.js';
import type { ImportFileResult } from '../contract/library.js';
import { DEFAULT_PNG_LIMITS, PngMetadataError, readPngMetadata } from '../formats/png-metadata.js';
import { ATELIER_CHUNK, stampPng } from '../formats/stamp.js';
import { newId } from './ids.js';
import { type StoredImageWithBytes, writeFileDurably } from './image-store.js';
import { parseImportedMetadata } from './interchange.js';
import { storeImage } from './recording.js';
import { type LibraryDb, getRecord, hasImage, insertCandidate, insertGeneration, insertImage, upsertModel, upsertProject } from './rows.js';

// PNGs in and out: importing images made anywhere (with whatever metadata they carry, see
// interchange.ts) and exporting entries as PNGs stamped with their parameters.

/**
 * Imports PNGs made anywhere. Each file is checked before anything is written; a refused
 * file leaves no row and no file. Unknown or malformed metadata imports the image
 * without parameters and says why.
 */
export async function importFiles(lib: LibraryDb, paths: string[], options: { projectId?: string } = {}): Promise<ImportFileResult[]> {
  const results: ImportFileResult[] = [];
  for (const file of paths) {
    try {
      results.push(await importFile(lib, file, options));
    } catch (error) {
      const e = error instanceof ApiError ? error : new ApiError('internal', error instanceof Error ? error.message : String(error));
      results.push({ path: file, ok: false, error: { code: e.code, message: e.message } });
    }
  }
  return results;
}

async function importFile(lib: LibraryDb, file: string, options: { projectId?: string }): Promise<ImportFileResult> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
  } catch {
    throw new ApiError('not_found', `${file}: no such file`);
  }
  if (!stat.isFile()) throw new ApiError('invalid_file', `${file}: not a regular file`);
  if (stat.size > DEFAULT_PNG_LIMITS.maxFileBytes) throw new ApiError('invalid_file', `${file}: ${stat.size} bytes is larger than the ${DEFAULT_PNG_LIMITS.maxFileBytes}-byte limit`);
  const bytes = await fs.promises.readFile(file);
  let chunks: Record<string, string>;
  try {
    chunks = readPngMetadata(bytes).chunks;
  } catch (error) {
    if (error instanceof PngMetadataError) throw new ApiError('invalid_file', `${file}: ${error.message}`, { reason: error.reason });
    throw error;
  }
  const meta = parseImportedMetadata(chunks);
  let image: StoredImageWithBytes;
  try {
    image = await storeImage(lib, bytes);
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new ApiError('invalid_file', `${file}: the image data cannot be decoded (${error instanceof Error ? error.message : String(error)})`);
  }
  const existing = lib.db
    .prepare("SELECT c.id, c.generation_id FROM candidates c JOIN generations g ON g.id = c.generation_id WHERE c.image_sha256 = ? AND g.status = 'imported' LIMIT 1")
    .get(image.sha256) as { id: string; generation_id: string } | undefined;
  if (existing) {
    return { path: file, ok: true, generationId: existing.generation_id, candidateId: existing.id, source: meta.source, withParameters: false, note: 'already in the library' };
  }
  const createdAt = Date.now();
  const generationId = newId('generation', createdAt);
  const candidateId = newId('candidate', createdAt);
  const request = meta.request ? { ...meta.request, ...(options.projectId ? { projectId: options.projectId } : {}) } : null;
  const note = meta.notes.join('\n') || null;
  try {
    lib.db.transaction(() => {
      const modelId = meta.modelName ? upsertModel(lib, meta.modelName, meta.modelName, meta.modelHash) : null;
      if (options.projectId) upsertProject(lib, options.projectId);
      insertGeneration(lib, {
        id: generationId,
        created_at: createdAt,
        status: 'imported',
        source: meta.source,
        mode: meta.mode,
        prompt: meta.prompt,
        negative_prompt: meta.negativePrompt,
        model: meta.modelName ?? 'unknown',
        model_id: modelId,
        model_name: meta.modelName,
        model_hash: meta.modelHash,
        sampler: meta.sampler,
        steps: meta.steps,
        cfg: meta.cfg,
        seed: meta.seed,
        seed_mode: meta.seedMode ?? null,
        batch: 1,
        width: meta.width ?? image.width,
        height: meta.height ?? image.height,
        strength: meta.strength,
        has_control: meta.hasControl ? 1 : 0,
        request_json: request ? JSON.stringify(request) : null,
        device: meta.device ?? null,
        app_version: meta.appVersion ?? null,
        imported_json: meta.raw ? JSON.stringify(meta.raw) : null,
        import_note: note,
        parent_candidate_id: null,
        project_id: options.projectId ?? null,
      });
      lib.images.ensureFiles(image);
      insertImage(lib, image);
      insertCandidate(lib, candidateId, generationId, 0, meta.seed, image.sha256, createdAt);
    })();
  } catch (error) {
    // The file went in first; without its row it is an orphan now.
    if (!hasImage(lib, image.sha256)) lib.images.remove(image.sha256);
    throw error;
  }
  return { path: file, ok: true, generationId, candidateId, source: meta.source, withParameters: meta.seed !== null || meta.prompt !== '', ...(note ? { note } : {}) };
}

/**
 * Writes a generation's candidates (or one candidate) as PNGs carrying the A1111
 * `parameters` text and our `atelier` record. Imports without parameters are written as
 * they came in.
 */
export async function exportGeneration(lib: LibraryDb, id: string, dir: string): Promise<string[]> {
  const record = getRecord(lib, id);
  const candidates = id.startsWith('c_') ? record.candidates.filter((c) => c.id === id) : record.candidates;
  await fs.promises.mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const candidate of candidates) {
    const stored = await fs.promises.readFile(lib.images.imagePath(candidate.sha256));
    // What recording stamped for this very candidate is kept as it is: its parameters line
    // carries what no row holds (A1111's Lora hashes, Refiner, VAE hash). Other images with a
    // request (imports, older entries) are stamped now.
    const bytes = record.request && !stampedFor(stored, candidate.id)
      ? stampPng(stored, {
          request: record.request,
          seed: candidate.seed ?? record.request.seed,
          width: candidate.width,
          height: candidate.height,
          index: candidate.index,
          generationId: record.id,
          candidateId: candidate.id,
          modelName: record.modelName,
          modelHash: record.modelHash,
          device: record.device,
          appVersion: record.appVersion,
          createdAt: record.createdAt,
        })
      : stored;
    const file = path.join(dir, `${record.id}-${candidate.index}${candidate.seed !== null ? `-${candidate.seed}` : ''}.png`);
    writeFileDurably(file, bytes);
    files.push(file);
  }
  return files;
}

/** Whether a stored PNG carries the `atelier` record recording stamped for `candidateId`. */
function stampedFor(png: Buffer, candidateId: string): boolean {
  try {
    const text = readPngMetadata(png).chunks[ATELIER_CHUNK];
    return text !== undefined && (JSON.parse(text) as { candidateId?: unknown }).candidateId === candidateId;
  } catch {
    return false; // unreadable metadata: stamped afresh
  }
}
