import type Database from 'better-sqlite3';
import { ApiError } from '../contract/errors.js';
import { GenerationRequest } from '../contract/generation.js';
import type { CandidateRecord, GenerationRecord, GenerationSource, GenerationStatus, GenerationSummary } from '../contract/library.js';
import type { ImageStore, StoredImage } from './image-store.js';

// The rows of the library's tables and the few statements every other module shares: finding
// a generation or candidate by id, turning rows into records, and the inserts that recording
// and import both make (always inside the caller's transaction).

/** What the library's modules work on: the open database and the image files beside it. */
export interface LibraryDb {
  readonly db: Database.Database;
  readonly images: ImageStore;
  /** Prepared INSERTs by column list (recording and import insert different columns). */
  readonly statements: Map<string, Database.Statement>;
}

export interface GenerationRow {
  seq: number;
  id: string;
  created_at: number;
  status: GenerationStatus;
  source: GenerationSource;
  mode: 'txt2img' | 'img2img' | 'inpaint';
  prompt: string;
  negative_prompt: string;
  model: string;
  model_name: string | null;
  model_hash: string | null;
  sampler: string | null;
  steps: number | null;
  cfg: number | null;
  seed: number | null;
  seed_mode: string | null;
  width: number | null;
  height: number | null;
  strength: number | null;
  has_control: number;
  request_json: string | null;
  device: string | null;
  app_version: string | null;
  timings_json: string | null;
  error: string | null;
  imported_json: string | null;
  import_note: string | null;
  parent_candidate_id: string | null;
  project_id: string | null;
}

export interface CandidateRow {
  id: string;
  generation_id: string;
  idx: number;
  seed: number | null;
  image_sha256: string;
  width: number;
  height: number;
  rating: number;
  favourite: number;
  accepted: number;
  created_at: number;
}

export const SUMMARY_COLUMNS = `g.seq, g.id, g.created_at, g.status, g.source, g.mode, g.prompt, g.negative_prompt, g.model, g.model_name,
  g.model_hash, g.sampler, g.steps, g.cfg, g.seed, g.width, g.height, g.has_control, g.parent_candidate_id, g.project_id`;

export function hasImage(lib: LibraryDb, sha256: string): boolean {
  return lib.db.prepare('SELECT 1 FROM images WHERE sha256 = ?').get(sha256) !== undefined;
}

export function upsertModel(lib: LibraryDb, modelPath: string, name: string | null, hash: string | null): number {
  const row = lib.db
    .prepare(
      `INSERT INTO models (path, name, hash) VALUES (?, ?, ?)
       ON CONFLICT(path) DO UPDATE SET name = coalesce(excluded.name, name), hash = coalesce(excluded.hash, hash)
       RETURNING id`,
    )
    .get(modelPath, name, hash) as { id: number };
  return row.id;
}

export function upsertProject(lib: LibraryDb, projectId: string): void {
  lib.db.prepare('INSERT INTO projects (id, created_at) VALUES (?, ?) ON CONFLICT(id) DO NOTHING').run(projectId, Date.now());
}

/** Inserts a generation row; the caller holds the transaction. */
export function insertGeneration(lib: LibraryDb, row: Record<string, unknown>): void {
  const columns = Object.keys(row);
  const key = columns.join(',');
  let statement = lib.statements.get(key);
  if (!statement) {
    statement = lib.db.prepare(`INSERT INTO generations (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`);
    lib.statements.set(key, statement);
  }
  statement.run(row);
}

export function insertImage(lib: LibraryDb, image: StoredImage): void {
  lib.db
    .prepare('INSERT OR IGNORE INTO images (sha256, width, height, bytes, thumb_width, thumb_height, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
    .run(image.sha256, image.width, image.height, image.bytes, image.thumbWidth, image.thumbHeight, Date.now());
}

export function insertCandidate(lib: LibraryDb, id: string, generationId: string, index: number, seed: number | null, sha256: string, createdAt: number): void {
  lib.db
    .prepare('INSERT INTO candidates (id, generation_id, idx, seed, image_sha256, created_at) VALUES (?, ?, ?, ?, ?, ?)')
    .run(id, generationId, index, seed, sha256, createdAt);
}

export function summaries(lib: LibraryDb, rows: GenerationRow[]): GenerationSummary[] {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const candidates = candidatesOf(lib, ids);
  const tags = tagsOf(lib, ids);
  return rows.map((r) => summaryOf(r, candidates.get(r.id) ?? [], tags.get(r.id) ?? []));
}

function candidatesOf(lib: LibraryDb, generationIds: string[]): Map<string, CandidateRecord[]> {
  const out = new Map<string, CandidateRecord[]>();
  const rows = lib.db
    .prepare(
      `SELECT c.id, c.generation_id, c.idx, c.seed, c.image_sha256, i.width, i.height, c.rating, c.favourite, c.accepted, c.created_at
       FROM candidates c JOIN images i ON i.sha256 = c.image_sha256
       WHERE c.generation_id IN (SELECT value FROM json_each(?)) ORDER BY c.generation_id, c.idx, c.seq`,
    )
    .all(JSON.stringify(generationIds)) as CandidateRow[];
  for (const row of rows) {
    const list = out.get(row.generation_id) ?? [];
    list.push(candidateRecord(row));
    out.set(row.generation_id, list);
  }
  return out;
}

function tagsOf(lib: LibraryDb, generationIds: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const rows = lib.db
    .prepare(
      `SELECT gt.generation_id, t.name FROM generation_tags gt JOIN tags t ON t.id = gt.tag_id
       WHERE gt.generation_id IN (SELECT value FROM json_each(?)) ORDER BY t.name`,
    )
    .all(JSON.stringify(generationIds)) as Array<{ generation_id: string; name: string }>;
  for (const row of rows) out.set(row.generation_id, [...(out.get(row.generation_id) ?? []), row.name]);
  return out;
}

function summaryOf(r: GenerationRow, candidates: CandidateRecord[], tags: string[]): GenerationSummary {
  return {
    id: r.id,
    createdAt: new Date(r.created_at).toISOString(),
    status: r.status,
    source: r.source,
    mode: r.mode,
    prompt: r.prompt,
    negativePrompt: r.negative_prompt,
    model: r.model,
    modelName: r.model_name,
    modelHash: r.model_hash,
    sampler: r.sampler,
    steps: r.steps,
    cfg: r.cfg,
    seed: r.seed,
    width: r.width,
    height: r.height,
    hasControl: r.has_control === 1,
    parentCandidateId: r.parent_candidate_id,
    projectId: r.project_id,
    tags,
    candidates,
  };
}

/** A generation (by its id or one of its candidates' ids). */
export function getRecord(lib: LibraryDb, id: string): GenerationRecord {
  const row = generationRow(lib, id);
  const summary = summaryOf(row, candidatesOf(lib, [row.id]).get(row.id) ?? [], tagsOf(lib, [row.id]).get(row.id) ?? []);
  return {
    ...summary,
    request: row.request_json ? GenerationRequest.parse(JSON.parse(row.request_json)) : null,
    seedMode: row.seed_mode,
    strength: row.strength,
    device: row.device,
    appVersion: row.app_version,
    timings: row.timings_json ? (JSON.parse(row.timings_json) as Record<string, number>) : {},
    error: row.error,
    importedParameters: row.imported_json ? (JSON.parse(row.imported_json) as Record<string, unknown>) : null,
    importNote: row.import_note,
  };
}

export function generationRow(lib: LibraryDb, id: string): GenerationRow {
  const row = id.startsWith('c_')
    ? lib.db.prepare('SELECT g.* FROM generations g JOIN candidates c ON c.generation_id = g.id WHERE c.id = ?').get(id)
    : lib.db.prepare('SELECT * FROM generations WHERE id = ?').get(id);
  if (!row) throw new ApiError('not_found', `No generation or candidate "${id}" in the library`);
  return row as GenerationRow;
}

export function candidateRow(lib: LibraryDb, id: string): CandidateRow {
  const row = lib.db
    .prepare(
      `SELECT c.id, c.generation_id, c.idx, c.seed, c.image_sha256, i.width, i.height, c.rating, c.favourite, c.accepted, c.created_at
       FROM candidates c JOIN images i ON i.sha256 = c.image_sha256 WHERE c.id = ?`,
    )
    .get(id) as CandidateRow | undefined;
  if (!row) throw new ApiError('not_found', `No candidate "${id}" in the library`);
  return row;
}

export function descendantIds(lib: LibraryDb, generationIds: string[], candidateIds: string[]): string[] {
  const rows = lib.db
    .prepare(
      `WITH RECURSIVE
         seed_candidates(id) AS (
           SELECT id FROM candidates WHERE generation_id IN (SELECT value FROM json_each(@g))
           UNION SELECT value FROM json_each(@c)
         ),
         d(id) AS (
           SELECT g.id FROM generations g WHERE g.parent_candidate_id IN (SELECT id FROM seed_candidates)
           UNION
           SELECT g.id FROM generations g JOIN candidates c ON g.parent_candidate_id = c.id JOIN d ON c.generation_id = d.id
         )
       SELECT d.id FROM d JOIN generations g ON g.id = d.id ORDER BY g.created_at, g.seq`,
    )
    .all({ g: JSON.stringify(generationIds), c: JSON.stringify(candidateIds) }) as Array<{ id: string }>;
  return rows.map((r) => r.id);
}

export function candidateRecord(row: CandidateRow): CandidateRecord {
  return {
    id: row.id,
    generationId: row.generation_id,
    index: row.idx,
    seed: row.seed,
    sha256: row.image_sha256,
    width: row.width,
    height: row.height,
    rating: row.rating,
    favourite: row.favourite === 1,
    accepted: row.accepted === 1,
    createdAt: new Date(row.created_at).toISOString(),
  };
}
