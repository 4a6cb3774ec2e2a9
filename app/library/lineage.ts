import fs from 'node:fs';
import path from 'node:path';
import { ApiError } from '../contract/errors.js';
import { GenerationRequest } from '../contract/generation.js';
import type { LineageNode, LineageResult, RecallResult } from '../contract/library.js';
import { folderContentHash, hashModelFiles, listModelFiles, modelFingerprint } from './model-hash.js';
import { type GenerationRow, type LibraryDb, candidateRow, descendantIds, generationRow } from './rows.js';

// Where an entry came from and how to make it again: the chain of refinements (ancestors and
// descendants through parent candidates), the request that re-runs an entry, and model hashes
// that tell whether the model has changed since.

export function lineage(lib: LibraryDb, id: string): LineageResult {
  const row = generationRow(lib, id);
  const node = (g: GenerationRow): LineageNode => ({
    generationId: g.id,
    parentCandidateId: g.parent_candidate_id,
    prompt: g.prompt,
    mode: g.mode,
    createdAt: new Date(g.created_at).toISOString(),
    candidateIds: (lib.db.prepare('SELECT id FROM candidates WHERE generation_id = ? ORDER BY idx, seq').all(g.id) as Array<{ id: string }>).map((c) => c.id),
  });
  const ancestors: LineageNode[] = [];
  const seen = new Set([row.id]);
  let parent = row.parent_candidate_id;
  while (parent) {
    const up = lib.db.prepare('SELECT g.* FROM generations g JOIN candidates c ON c.generation_id = g.id WHERE c.id = ?').get(parent) as GenerationRow | undefined;
    if (!up || seen.has(up.id)) break; // the parent was deleted or came from elsewhere
    seen.add(up.id);
    ancestors.unshift(node(up));
    parent = up.parent_candidate_id;
  }
  const descendants = descendantIds(lib, [row.id], []).map((d) => node(generationRow(lib, d)));
  return { generationId: row.id, ancestors, descendants };
}

/**
 * The request that re-runs an entry exactly: a generation as made, a candidate with its
 * own seed and batch 1 (candidate k of a batch used seed + k, equal to a single run).
 * `currentModelHash` tells the hash of the model as it is now (undefined: cannot tell,
 * null: not available); by default a model given as a folder is hashed (cached).
 */
export function recall(lib: LibraryDb, id: string, options: { currentModelHash?: (model: string) => string | null | undefined } = {}): RecallResult {
  const row = generationRow(lib, id);
  if (!row.request_json) {
    throw new ApiError('conflict', `"${id}" was imported without re-runnable parameters${row.import_note ? `: ${row.import_note}` : ''}`);
  }
  const request = GenerationRequest.parse(JSON.parse(row.request_json));
  const warnings: string[] = row.import_note ? row.import_note.split('\n').filter(Boolean) : [];
  let candidateId: string | null = null;
  if (id.startsWith('c_')) {
    const candidate = candidateRow(lib, id);
    candidateId = candidate.id;
    if (candidate.seed !== null) request.seed = candidate.seed;
    // With a variation seed every candidate kept the seed and k used variation seed + k.
    if (request.variation && request.variation.strength > 0) request.variation = { ...request.variation, seed: request.variation.seed + candidate.idx };
    request.batch = 1;
  }
  const current = options.currentModelHash ? options.currentModelHash(request.model) : currentModelHashOf(lib, request.model);
  if (current === null) warnings.push(`model "${request.model}" is not available here`);
  else if (row.model_hash && current !== undefined && !sameHash(current, row.model_hash)) {
    warnings.push(`model "${request.model}" has changed since this was made (hash ${row.model_hash.slice(0, 12)} then, ${current.slice(0, 12)} now): the result may differ`);
  } else if (row.model_hash && current === undefined && row.source === 'atelier') {
    warnings.push(`could not check that model "${request.model}" is unchanged`);
  }
  for (const ref of [request.init, request.inpaint?.mask, ...request.controls.map((c) => c.image), ...(request.regions ?? []).map((r) => r.mask)]) {
    if (ref && 'sha256' in ref && !fs.existsSync(lib.images.imagePath(ref.sha256))) warnings.push(`input image ${ref.sha256.slice(0, 12)} is missing from the library`);
  }
  return { generationId: row.id, candidateId, request, warnings };
}

function currentModelHashOf(lib: LibraryDb, model: string): string | null | undefined {
  if (!path.isAbsolute(model) && !model.includes('/') && !model.includes('\\')) return undefined; // a registered id: the caller knows
  if (!fs.existsSync(model)) return null;
  return modelHash(lib, model);
}

/** Content hash of a model folder (see model-hash.ts), rehashed only when its files change. */
export function modelHash(lib: LibraryDb, dir: string): string {
  const abs = path.resolve(dir);
  // An imported checkpoint is known by its file's sha256 (docs/models.md), so that A1111's
  // "Model hash" (its first 10 digits) matches what A1111 and Civitai show for that file.
  const imported = importedSourceSha256(abs);
  if (imported) return imported;
  const files = listModelFiles(abs);
  const fingerprint = modelFingerprint(files);
  const cached = lib.db.prepare('SELECT hash, fingerprint FROM models WHERE path = ?').get(abs) as { hash: string | null; fingerprint: string | null } | undefined;
  if (cached?.hash && cached.fingerprint === fingerprint) return cached.hash;
  const hash = hashModelFiles(files);
  lib.db
    .prepare(
      `INSERT INTO models (path, hash, fingerprint, hashed_at) VALUES (?, ?, ?, ?)
       ON CONFLICT(path) DO UPDATE SET hash = excluded.hash, fingerprint = excluded.fingerprint, hashed_at = excluded.hashed_at`,
    )
    .run(abs, hash, fingerprint, Date.now());
  return hash;
}

/**
 * What a folder's files make (hashModelFiles), what farm workers check a model against: the
 * model hash above — cached here across runs — except for an imported checkpoint, which that
 * names by its source file (then folderContentHash, kept for the process).
 */
export function contentHash(lib: LibraryDb, dir: string): string {
  const abs = path.resolve(dir);
  return importedSourceSha256(abs) ? folderContentHash(abs) : modelHash(lib, abs);
}

/** model_index.json's atelier.source.sha256, written by `atelier models import`. */
function importedSourceSha256(dir: string): string | undefined {
  try {
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'model_index.json'), 'utf8')) as { atelier?: { source?: { sha256?: unknown } } };
    const sha = index.atelier?.source?.sha256;
    return typeof sha === 'string' && /^[0-9a-f]{64}$/.test(sha) ? sha : undefined;
  } catch {
    return undefined;
  }
}

function sameHash(a: string, b: string): boolean {
  // A1111-style short hashes (10 hex digits) compare by prefix.
  const n = Math.min(a.length, b.length);
  return n >= 8 && a.slice(0, n).toLowerCase() === b.slice(0, n).toLowerCase();
}
