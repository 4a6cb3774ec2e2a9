/**
 * The library: every generation and candidate an artist made, in SQLite (WAL, foreign
 * keys, synchronous=FULL) with images as content-addressed files beside it.
 *
 *   const library = openLibrary(home);           // <home>/library/library.sqlite
 *   const record = await library.recordGeneration({
 *     request,                                   // the parsed GenerationRequest
 *     modelName, modelHash,                      // as the engine loaded it (library.modelHash(dir) hashes a folder, cached)
 *     device, appVersion, timings,               // what ran it
 *     status: 'completed',                       // or 'failed' / 'cancelled' (then candidates may be [])
 *     candidates: [{ index, seed, image: rgba }] // or { index, seed, png: Buffer }
 *   });                                          // → GenerationRecord with candidate ids
 *   library.search({ text: 'red fox*', minRating: 3 }); library.get(id); library.recall(id);
 *   library.lineage(id); library.rate(...); library.tag(...); library.delete(...);
 *   await library.importFiles(paths); await library.exportGeneration(id, dir); await library.backup(file);
 *   library.imagePath(sha256); library.close();
 *
 * Durability: image files are written (temp, fsync, rename, fsync folder) before the one
 * transaction that records rows pointing to them; a crash leaves at worst unreferenced
 * files, collected on the next open after an unclean shutdown (or by collectOrphans()).
 * Deleting entries removes the rows first, then the files nothing references any more.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { ApiError } from '../contract/errors.js';
import {
  GenerationRequest,
  type GenerationRequestInput,
  type ImageRef,
  modeOf,
} from '../contract/generation.js';
import {
  type CandidateRecord,
  type GenerationRecord,
  type GenerationSource,
  type GenerationStatus,
  type GenerationSummary,
  type ImportFileResult,
  LibrarySearchQuery,
  type LibrarySearchQueryInput,
  type LibrarySearchResult,
  type LineageNode,
  type LineageResult,
  PromptPhrasesQuery,
  type PromptPhrasesQueryInput,
  type PromptPhrasesResult,
  type RecallResult,
} from '../contract/library.js';
import { newId } from './ids.js';
import { buildFtsQuery, countPromptPhrases, parseDateBound, promptPrefixQuery } from './search-query.js';
import { ImageStore, type StoredImage, type StoredImageWithBytes, fsyncDir, writeFileDurably } from './image-store.js';
import { parseImportedMetadata } from './interchange.js';
import { hashModelFiles, listModelFiles, modelFingerprint } from './model-hash.js';
import { DEFAULT_PNG_LIMITS, PNG_SIGNATURE, PngMetadataError, readPngMetadata } from '../formats/png-metadata.js';
import { stampPng } from '../formats/stamp.js';
import { LATEST_VERSION, LibraryVersionError, migrate } from './schema.js';

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
  device?: string | null;
  appVersion?: string | null;
  /** Milliseconds by phase; `total` becomes the duration. */
  timings?: Record<string, number>;
  status?: Exclude<GenerationStatus, 'imported'>;
  error?: string | null;
  candidates: RecordedCandidate[];
  createdAt?: Date | number;
}

export interface OpenLibraryOptions {
  /** Run PRAGMA quick_check on open (default true). */
  checkIntegrity?: boolean;
  /** Migrate up to this schema version only (tests of upgrades). */
  targetVersion?: number;
}

export class LibraryCorruptError extends Error {
  constructor(
    readonly dbPath: string,
    readonly problems: string[],
  ) {
    super(
      `The library database ${dbPath} failed its integrity check (${problems.slice(0, 3).join('; ')}). ` +
        'Your images are untouched. Run `atelier history recover` to move the damaged file aside and salvage what can be read into a fresh library, ' +
        'or replace it with a backup made by `atelier history backup`.',
    );
    this.name = 'LibraryCorruptError';
  }
}

export function libraryRoot(home: string): string {
  return path.join(home, 'library');
}

export function openLibrary(home: string, options: OpenLibraryOptions = {}): Library {
  return new Library(libraryRoot(home), options);
}

interface GenerationRow {
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

interface CandidateRow {
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

const SUMMARY_COLUMNS = `g.seq, g.id, g.created_at, g.status, g.source, g.mode, g.prompt, g.negative_prompt, g.model, g.model_name,
  g.model_hash, g.sampler, g.steps, g.cfg, g.seed, g.width, g.height, g.has_control, g.parent_candidate_id, g.project_id`;

const MARKER_PREFIX = '.open-';

export class Library {
  readonly root: string;
  readonly dbPath: string;
  readonly images: ImageStore;
  readonly db: Database.Database;
  /** Schema version found on open, before any upgrade. */
  readonly openedFromVersion: number;
  private readonly marker: string;
  private closed = false;
  private readonly insertStatements = new Map<string, Database.Statement>();

  constructor(root: string, options: OpenLibraryOptions = {}) {
    this.root = root;
    fs.mkdirSync(root, { recursive: true });
    this.dbPath = path.join(root, 'library.sqlite');
    this.images = new ImageStore(root);
    const uncleanPids = this.deadMarkers();
    this.db = new Database(this.dbPath);
    try {
      this.db.pragma('busy_timeout = 5000');
      this.db.pragma('journal_mode = WAL');
      // FULL: a committed generation survives power loss, not only a crashed process.
      this.db.pragma('synchronous = FULL');
      this.db.pragma('foreign_keys = ON');
      // Search touches the FTS index and the generation rows at random: keep a good part of
      // a large library in memory (64 MiB page cache, up to 1 GiB memory-mapped).
      this.db.pragma('cache_size = -65536');
      this.db.pragma('mmap_size = 1073741824');
      this.db.pragma('temp_store = MEMORY');
      if (options.checkIntegrity !== false) {
        const problems = this.quickCheck();
        if (problems.length > 0) throw new LibraryCorruptError(this.dbPath, problems);
      }
      this.openedFromVersion = migrate(this.db, options.targetVersion).from;
      // Planner statistics: without them SQLite may walk a broad index (mode = 'txt2img')
      // instead of the few FTS matches. analysis_limit keeps ANALYZE to a sample (ms, not
      // seconds); 0x10002 analyzes tables that never were (sqlite.org/pragma.html#pragma_optimize).
      this.db.pragma('analysis_limit = 1000');
      this.db.pragma('optimize = 0x10002');
    } catch (error) {
      this.db.close();
      throw error;
    }
    this.marker = path.join(root, `${MARKER_PREFIX}${process.pid}`);
    fs.writeFileSync(this.marker, new Date().toISOString());
    if (uncleanPids.length > 0) {
      // The last session ended without close(): files written for rows that never
      // committed may be left over. Another live session may be mid-write, so only files
      // older than a grace period go unless we are alone.
      const alone = this.liveMarkers().length === 1;
      this.collectOrphans({ graceMs: alone ? 0 : 10 * 60_000 });
      for (const pid of uncleanPids) fs.rmSync(path.join(root, `${MARKER_PREFIX}${pid}`), { force: true });
    }
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.db.pragma('optimize');
    } catch {
      // statistics are an optimisation; a busy or read-only database closes without them
    }
    this.db.close();
    fs.rmSync(this.marker, { force: true });
  }

  imagePath(sha256: string): string {
    return this.images.imagePath(sha256);
  }

  thumbnailPath(sha256: string): string {
    return this.images.thumbnailPath(sha256);
  }

  hasImage(sha256: string): boolean {
    return this.db.prepare('SELECT 1 FROM images WHERE sha256 = ?').get(sha256) !== undefined;
  }

  // -------------------------------------------------------------------------------------
  // Recording

  async recordGeneration(input: RecordGenerationInput): Promise<GenerationRecord> {
    const request = GenerationRequest.parse(input.request);
    const createdAt = input.createdAt instanceof Date ? input.createdAt.getTime() : (input.createdAt ?? Date.now());
    const generationId = newId('generation', createdAt);
    // Inputs (init, mask, control images) are stored too and the request points to them
    // by hash, so recall re-runs from the same pixels even after the files move.
    const { request: storedRequest, inputs } = await this.storeInputs(request);
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
            });
      candidates.push({ id, index: candidate.index, seed: candidate.seed, image: await this.storeImage(png) });
    }
    const first = candidates[0]?.image;
    this.db.transaction(() => {
      const modelId = this.upsertModel(request.model, input.modelName ?? null, input.modelHash ?? null);
      if (request.projectId) this.upsertProject(request.projectId);
      this.insertGeneration({
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
        this.images.ensureFiles(image);
        this.insertImage(image);
        this.db.prepare('INSERT INTO generation_inputs (generation_id, role, image_sha256) VALUES (?, ?, ?)').run(generationId, role, image.sha256);
      }
      for (const c of candidates) {
        this.images.ensureFiles(c.image);
        this.insertImage(c.image);
        this.insertCandidate(c.id, generationId, c.index, c.seed, c.image.sha256, createdAt);
      }
    })();
    return this.get(generationId);
  }

  /** Stores PNG bytes as a content-addressed image (and thumbnail); no row yet. */
  async storeImage(png: Buffer): Promise<StoredImageWithBytes> {
    try {
      return await this.images.store(png);
    } catch (error) {
      if (error instanceof PngMetadataError) throw new ApiError('invalid_file', error.message, { reason: error.reason });
      throw error;
    }
  }

  private async storeInputs(request: GenerationRequest): Promise<{ request: GenerationRequest; inputs: Map<string, StoredImageWithBytes> }> {
    const inputs = new Map<string, StoredImageWithBytes>();
    const store = async (ref: ImageRef, role: string): Promise<ImageRef> => {
      if ('sha256' in ref) return ref;
      const bytes = 'path' in ref ? await fs.promises.readFile(ref.path) : Buffer.from(ref.png, 'base64');
      const png = bytes.subarray(0, 8).equals(PNG_SIGNATURE)
        ? bytes
        : await sharp(bytes, { limitInputPixels: DEFAULT_PNG_LIMITS.maxPixels }).png().toBuffer();
      const image = await this.storeImage(png);
      inputs.set(role, image);
      return { sha256: image.sha256 };
    };
    const out: GenerationRequest = { ...request };
    if (request.init) out.init = await store(request.init, 'init');
    if (request.inpaint) out.inpaint = { ...request.inpaint, mask: await store(request.inpaint.mask, 'mask') };
    out.controls = [];
    for (const [i, control] of request.controls.entries()) out.controls.push({ ...control, image: await store(control.image, `control${i}`) });
    return { request: out, inputs };
  }

  private upsertModel(modelPath: string, name: string | null, hash: string | null): number {
    const row = this.db
      .prepare(
        `INSERT INTO models (path, name, hash) VALUES (?, ?, ?)
         ON CONFLICT(path) DO UPDATE SET name = coalesce(excluded.name, name), hash = coalesce(excluded.hash, hash)
         RETURNING id`,
      )
      .get(modelPath, name, hash) as { id: number };
    return row.id;
  }

  private upsertProject(projectId: string): void {
    this.db.prepare('INSERT INTO projects (id, created_at) VALUES (?, ?) ON CONFLICT(id) DO NOTHING').run(projectId, Date.now());
  }

  /** Inserts a generation row; the caller holds the transaction. */
  insertGeneration(row: Record<string, unknown>): void {
    const columns = Object.keys(row);
    const key = columns.join(',');
    let statement = this.insertStatements.get(key);
    if (!statement) {
      statement = this.db.prepare(`INSERT INTO generations (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`);
      this.insertStatements.set(key, statement);
    }
    statement.run(row);
  }

  insertImage(image: StoredImage): void {
    this.db
      .prepare('INSERT OR IGNORE INTO images (sha256, width, height, bytes, thumb_width, thumb_height, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(image.sha256, image.width, image.height, image.bytes, image.thumbWidth, image.thumbHeight, Date.now());
  }

  insertCandidate(id: string, generationId: string, index: number, seed: number | null, sha256: string, createdAt: number): void {
    this.db
      .prepare('INSERT INTO candidates (id, generation_id, idx, seed, image_sha256, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(id, generationId, index, seed, sha256, createdAt);
  }

  // -------------------------------------------------------------------------------------
  // Reading

  search(queryInput: LibrarySearchQueryInput): LibrarySearchResult {
    const parsed = LibrarySearchQuery.safeParse(queryInput);
    if (!parsed.success) throw new ApiError('bad_request', `Invalid search: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    const q = parsed.data;
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    const fts = buildFtsQuery(q.text, q.includeNegative);
    if (fts.match) {
      params.match = fts.match;
      if (q.sort !== 'relevance') where.push('g.seq IN (SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH @match)');
    }
    if (fts.exclude) {
      params.exclude = fts.exclude;
      where.push('g.seq NOT IN (SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH @exclude)');
    }
    if (fts.empty) return { items: [], total: 0, offset: q.offset, limit: q.limit };
    if (q.model) {
      // By the models table (path as requested, or name) → model_id, and by hash prefix
      // when the text looks like a hash: made with exactly that version of the model.
      const ids = this.db.prepare('SELECT id FROM models WHERE path = ? OR name = ?').pluck().all(q.model, q.model) as number[];
      const either: string[] = [];
      if (ids.length) either.push(ids.length === 1 ? `g.model_id = ${ids[0]}` : `g.model_id IN (${ids.join(', ')})`);
      if (/^(blake3:)?[0-9a-f]{6,}$/i.test(q.model)) {
        params.model = q.model.toLowerCase();
        params.modelHashEnd = `${q.model.toLowerCase()}\uffff`;
        either.push('(g.model_hash >= @model AND g.model_hash < @modelHashEnd)');
      }
      where.push(either.length ? `(${either.join(' OR ')})` : '0');
    }
    if (q.from) {
      params.from = parseDateBound(q.from, 'start');
      where.push('g.created_at >= @from');
    }
    if (q.to) {
      params.to = parseDateBound(q.to, 'end');
      where.push('g.created_at <= @to');
    }
    if (q.minRating !== undefined) {
      params.minRating = q.minRating;
      where.push('g.best_rating >= @minRating');
    }
    if (q.favourite !== undefined) where.push(`g.has_favourite = ${q.favourite ? 1 : 0}`);
    if (q.tag) {
      params.tag = q.tag;
      where.push('g.id IN (SELECT gt.generation_id FROM generation_tags gt JOIN tags t ON t.id = gt.tag_id WHERE t.name = @tag)');
    }
    for (const [key, column] of [['projectId', 'project_id'], ['mode', 'mode'], ['status', 'status'], ['source', 'source']] as const) {
      if (q[key] !== undefined) {
        params[key] = q[key];
        where.push(`g.${column} = @${key}`);
      }
    }
    if (q.hasControl !== undefined) where.push(`g.has_control = ${q.hasControl ? 1 : 0}`);

    const whereSql = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const relevance = q.sort === 'relevance' && fts.match;
    const from = relevance ? 'generations g JOIN (SELECT rowid, rank FROM prompts_fts WHERE prompts_fts MATCH @match) f ON f.rowid = g.seq' : 'generations g';
    // Order by seq (the order entries entered the library), not created_at: the FTS index
    // and the table are both keyed by seq, so a page of the newest matches needs no sort
    // of all matches. Recorded generations enter as they are made; imports as imported.
    const order = relevance ? 'f.rank, g.seq DESC' : q.sort === 'oldest' ? 'g.seq ASC' : q.sort === 'rating' ? 'g.best_rating DESC, g.seq DESC' : 'g.seq DESC';
    try {
      // Two steps: the page's keys (cheap to sort), then only those rows.
      const seqs = this.db
        .prepare(`SELECT g.seq FROM ${from} ${whereSql} ORDER BY ${order} LIMIT @limit OFFSET @offset`)
        .pluck()
        .all({ ...params, limit: q.limit, offset: q.offset }) as number[];
      const bySeq = new Map(
        (this.db.prepare(`SELECT ${SUMMARY_COLUMNS} FROM generations g WHERE g.seq IN (SELECT value FROM json_each(?))`).all(JSON.stringify(seqs)) as GenerationRow[]).map((r) => [r.seq, r]),
      );
      const rows = seqs.map((seq) => bySeq.get(seq)!).filter(Boolean);
      const onlyText = where.length === 1 && fts.match && !relevance && !fts.exclude;
      const total = onlyText
        ? (this.db.prepare('SELECT count(*) FROM prompts_fts WHERE prompts_fts MATCH @match').pluck().get({ match: params.match }) as number)
        : (this.db.prepare(`SELECT count(*) FROM ${from} ${whereSql}`).pluck().get(params) as number);
      return { items: this.summaries(rows), total, offset: q.offset, limit: q.limit };
    } catch (error) {
      if (error instanceof Database.SqliteError && /fts5|MATCH/i.test(error.message)) throw new ApiError('bad_request', `Cannot search for "${q.text}": ${error.message}`);
      throw error;
    }
  }

  private summaries(rows: GenerationRow[]): GenerationSummary[] {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const candidates = this.candidatesOf(ids);
    const tags = this.tagsOf(ids);
    return rows.map((r) => this.summary(r, candidates.get(r.id) ?? [], tags.get(r.id) ?? []));
  }

  private candidatesOf(generationIds: string[]): Map<string, CandidateRecord[]> {
    const out = new Map<string, CandidateRecord[]>();
    const rows = this.db
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

  private tagsOf(generationIds: string[]): Map<string, string[]> {
    const out = new Map<string, string[]>();
    const rows = this.db
      .prepare(
        `SELECT gt.generation_id, t.name FROM generation_tags gt JOIN tags t ON t.id = gt.tag_id
         WHERE gt.generation_id IN (SELECT value FROM json_each(?)) ORDER BY t.name`,
      )
      .all(JSON.stringify(generationIds)) as Array<{ generation_id: string; name: string }>;
    for (const row of rows) out.set(row.generation_id, [...(out.get(row.generation_id) ?? []), row.name]);
    return out;
  }

  private summary(r: GenerationRow, candidates: CandidateRecord[], tags: string[]): GenerationSummary {
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
  /**
   * Prompt autocomplete: phrases of recorded prompts that start with `prefix`. The FTS index
   * (prefix-indexed for this) finds the prompts holding such a word; only the most recent
   * 2 000 of them are read, which keeps it quick on a large history.
   */
  promptPhrases(input: PromptPhrasesQueryInput): PromptPhrasesResult {
    const parsed = PromptPhrasesQuery.safeParse(input);
    if (!parsed.success) throw new ApiError('bad_request', `Invalid prompt phrase query: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    const { prefix, limit } = parsed.data;
    const match = promptPrefixQuery(prefix);
    if (!match) return { phrases: [] };
    const prompts = this.db
      .prepare('SELECT g.prompt FROM generations g WHERE g.seq IN (SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH ?) ORDER BY g.seq DESC LIMIT 2000')
      .pluck()
      .all(match) as string[];
    return { phrases: countPromptPhrases(prompts, prefix, limit) };
  }

  get(id: string): GenerationRecord {
    const row = this.generationRow(id);
    const summary = this.summary(row, this.candidatesOf([row.id]).get(row.id) ?? [], this.tagsOf([row.id]).get(row.id) ?? []);
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

  private generationRow(id: string): GenerationRow {
    const row = id.startsWith('c_')
      ? this.db.prepare('SELECT g.* FROM generations g JOIN candidates c ON c.generation_id = g.id WHERE c.id = ?').get(id)
      : this.db.prepare('SELECT * FROM generations WHERE id = ?').get(id);
    if (!row) throw new ApiError('not_found', `No generation or candidate "${id}" in the library`);
    return row as GenerationRow;
  }

  private candidateRow(id: string): CandidateRow {
    const row = this.db
      .prepare(
        `SELECT c.id, c.generation_id, c.idx, c.seed, c.image_sha256, i.width, i.height, c.rating, c.favourite, c.accepted, c.created_at
         FROM candidates c JOIN images i ON i.sha256 = c.image_sha256 WHERE c.id = ?`,
      )
      .get(id) as CandidateRow | undefined;
    if (!row) throw new ApiError('not_found', `No candidate "${id}" in the library`);
    return row;
  }

  // -------------------------------------------------------------------------------------
  // Rating, tags, deletion

  rate(candidateId: string, change: { rating?: number; favourite?: boolean; accepted?: boolean }): CandidateRecord {
    if (change.rating !== undefined && (!Number.isInteger(change.rating) || change.rating < 0 || change.rating > 5)) {
      throw new ApiError('bad_request', `A rating is 0 (none) to 5 stars, not ${change.rating}`);
    }
    this.db.transaction(() => {
      const row = this.candidateRow(candidateId);
      this.db
        .prepare('UPDATE candidates SET rating = coalesce(?, rating), favourite = coalesce(?, favourite), accepted = coalesce(?, accepted) WHERE id = ?')
        .run(change.rating ?? null, change.favourite === undefined ? null : Number(change.favourite), change.accepted === undefined ? null : Number(change.accepted), candidateId);
      this.refreshGenerationRating(row.generation_id);
    })();
    return candidateRecord(this.candidateRow(candidateId));
  }

  private refreshGenerationRating(generationId: string): void {
    this.db
      .prepare(
        `UPDATE generations SET
           best_rating = coalesce((SELECT max(rating) FROM candidates WHERE generation_id = @id), 0),
           has_favourite = EXISTS (SELECT 1 FROM candidates WHERE generation_id = @id AND favourite = 1)
         WHERE id = @id`,
      )
      .run({ id: generationId });
  }

  tag(generationIds: string[], add: string[] = [], remove: string[] = []): number {
    const names = (list: string[]): string[] => [...new Set(list.map((t) => t.trim()).filter(Boolean))];
    return this.db.transaction(() => {
      const ids = generationIds.map((id) => this.generationRow(id).id);
      const tagId = this.db.prepare('INSERT INTO tags (name) VALUES (?) ON CONFLICT(name) DO UPDATE SET name = name RETURNING id');
      const link = this.db.prepare('INSERT OR IGNORE INTO generation_tags (tag_id, generation_id) VALUES (?, ?)');
      const unlink = this.db.prepare('DELETE FROM generation_tags WHERE generation_id = ? AND tag_id = (SELECT id FROM tags WHERE name = ?)');
      for (const name of names(add)) {
        const { id } = tagId.get(name) as { id: number };
        for (const g of ids) link.run(id, g);
      }
      for (const name of names(remove)) for (const g of ids) unlink.run(g, name);
      this.db.prepare('DELETE FROM tags WHERE id NOT IN (SELECT tag_id FROM generation_tags)').run();
      return ids.length;
    })();
  }

  /**
   * Deletes generations and candidates (by id), then the image files nothing references.
   * Later generations refined from them are refused unless withDescendants.
   */
  delete(ids: string[], options: { withDescendants?: boolean } = {}): { generations: number; candidates: number; files: number } {
    const unreferenced: string[] = [];
    const counts = this.db.transaction(() => {
      const generationIds = new Set<string>();
      const candidateIds = new Set<string>();
      for (const id of ids) {
        if (id.startsWith('c_')) candidateIds.add(this.candidateRow(id).id);
        else generationIds.add(this.generationRow(id).id);
      }
      const descendants = this.descendantIds([...generationIds], [...candidateIds]).filter((d) => !generationIds.has(d));
      if (descendants.length > 0 && !options.withDescendants) {
        throw new ApiError(
          'conflict',
          `${descendants.length} later generation(s) were refined from these entries (${descendants.slice(0, 3).join(', ')}); delete them too with withDescendants`,
          { descendants },
        );
      }
      for (const d of descendants) generationIds.add(d);
      const json = JSON.stringify([...generationIds]);
      const touched = this.db
        .prepare(
          `SELECT image_sha256 AS sha FROM candidates WHERE generation_id IN (SELECT value FROM json_each(@g)) OR id IN (SELECT value FROM json_each(@c))
           UNION SELECT image_sha256 FROM generation_inputs WHERE generation_id IN (SELECT value FROM json_each(@g))`,
        )
        .all({ g: json, c: JSON.stringify([...candidateIds]) }) as Array<{ sha: string }>;
      const ratedParents = new Set(
        (this.db.prepare('SELECT DISTINCT generation_id AS g FROM candidates WHERE id IN (SELECT value FROM json_each(?))').all(JSON.stringify([...candidateIds])) as Array<{ g: string }>).map((r) => r.g),
      );
      const deletedCandidates =
        (this.db.prepare('SELECT count(*) AS n FROM candidates WHERE generation_id IN (SELECT value FROM json_each(?))').get(json) as { n: number }).n +
        this.db.prepare('DELETE FROM candidates WHERE id IN (SELECT value FROM json_each(?)) AND generation_id NOT IN (SELECT value FROM json_each(?))').run(JSON.stringify([...candidateIds]), json).changes;
      const deletedGenerations = this.db.prepare('DELETE FROM generations WHERE id IN (SELECT value FROM json_each(?))').run(json).changes;
      for (const g of ratedParents) if (!generationIds.has(g)) this.refreshGenerationRating(g);
      const stillUsed = this.db.prepare('SELECT EXISTS (SELECT 1 FROM candidates WHERE image_sha256 = ?) OR EXISTS (SELECT 1 FROM generation_inputs WHERE image_sha256 = ?) AS used');
      for (const { sha } of touched) {
        if ((stillUsed.get(sha, sha) as { used: number }).used) continue;
        this.db.prepare('DELETE FROM images WHERE sha256 = ?').run(sha);
        unreferenced.push(sha);
      }
      this.db.prepare('DELETE FROM tags WHERE id NOT IN (SELECT tag_id FROM generation_tags)').run();
      return { generations: deletedGenerations, candidates: deletedCandidates };
    })();
    // Files go only after the rows are gone: a crash here leaves orphans, never dangling
    // rows. Under the write lock, and only if no other process has since recorded the same
    // image (identical bytes share one file).
    let files = 0;
    this.db.transaction(() => {
      const known = this.db.prepare('SELECT 1 FROM images WHERE sha256 = ?');
      for (const sha of unreferenced) if (!known.get(sha)) files += this.images.remove(sha);
    }).immediate();
    return { ...counts, files };
  }

  private descendantIds(generationIds: string[], candidateIds: string[]): string[] {
    const rows = this.db
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

  // -------------------------------------------------------------------------------------
  // Lineage and recall

  lineage(id: string): LineageResult {
    const row = this.generationRow(id);
    const node = (g: GenerationRow): LineageNode => ({
      generationId: g.id,
      parentCandidateId: g.parent_candidate_id,
      prompt: g.prompt,
      mode: g.mode,
      createdAt: new Date(g.created_at).toISOString(),
      candidateIds: (this.db.prepare('SELECT id FROM candidates WHERE generation_id = ? ORDER BY idx, seq').all(g.id) as Array<{ id: string }>).map((c) => c.id),
    });
    const ancestors: LineageNode[] = [];
    const seen = new Set([row.id]);
    let parent = row.parent_candidate_id;
    while (parent) {
      const up = this.db.prepare('SELECT g.* FROM generations g JOIN candidates c ON c.generation_id = g.id WHERE c.id = ?').get(parent) as GenerationRow | undefined;
      if (!up || seen.has(up.id)) break; // the parent was deleted or came from elsewhere
      seen.add(up.id);
      ancestors.unshift(node(up));
      parent = up.parent_candidate_id;
    }
    const descendants = this.descendantIds([row.id], []).map((d) => node(this.generationRow(d)));
    return { generationId: row.id, ancestors, descendants };
  }

  /**
   * The request that re-runs an entry exactly: a generation as made, a candidate with its
   * own seed and batch 1 (candidate k of a batch used seed + k, equal to a single run).
   * `currentModelHash` tells the hash of the model as it is now (undefined: cannot tell,
   * null: not available); by default a model given as a folder is hashed (cached).
   */
  recall(id: string, options: { currentModelHash?: (model: string) => string | null | undefined } = {}): RecallResult {
    const row = this.generationRow(id);
    if (!row.request_json) {
      throw new ApiError('conflict', `"${id}" was imported without re-runnable parameters${row.import_note ? `: ${row.import_note}` : ''}`);
    }
    const request = GenerationRequest.parse(JSON.parse(row.request_json));
    const warnings: string[] = row.import_note ? row.import_note.split('\n').filter(Boolean) : [];
    let candidateId: string | null = null;
    if (id.startsWith('c_')) {
      const candidate = this.candidateRow(id);
      candidateId = candidate.id;
      if (candidate.seed !== null) request.seed = candidate.seed;
      request.batch = 1;
    }
    const current = options.currentModelHash ? options.currentModelHash(request.model) : this.currentModelHashOf(request.model);
    if (current === null) warnings.push(`model "${request.model}" is not available here`);
    else if (row.model_hash && current !== undefined && !sameHash(current, row.model_hash)) {
      warnings.push(`model "${request.model}" has changed since this was made (hash ${row.model_hash.slice(0, 12)} then, ${current.slice(0, 12)} now): the result may differ`);
    } else if (row.model_hash && current === undefined && row.source === 'atelier') {
      warnings.push(`could not check that model "${request.model}" is unchanged`);
    }
    for (const ref of [request.init, request.inpaint?.mask, ...request.controls.map((c) => c.image)]) {
      if (ref && 'sha256' in ref && !fs.existsSync(this.imagePath(ref.sha256))) warnings.push(`input image ${ref.sha256.slice(0, 12)} is missing from the library`);
    }
    return { generationId: row.id, candidateId, request, warnings };
  }

  private currentModelHashOf(model: string): string | null | undefined {
    if (!path.isAbsolute(model) && !model.includes('/') && !model.includes('\\')) return undefined; // a registered id: the caller knows
    if (!fs.existsSync(model)) return null;
    return this.modelHash(model);
  }

  /** Content hash of a model folder (see model-hash.ts), rehashed only when its files change. */
  modelHash(dir: string): string {
    const abs = path.resolve(dir);
    const files = listModelFiles(abs);
    const fingerprint = modelFingerprint(files);
    const cached = this.db.prepare('SELECT hash, fingerprint FROM models WHERE path = ?').get(abs) as { hash: string | null; fingerprint: string | null } | undefined;
    if (cached?.hash && cached.fingerprint === fingerprint) return cached.hash;
    const hash = hashModelFiles(files);
    this.db
      .prepare(
        `INSERT INTO models (path, hash, fingerprint, hashed_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(path) DO UPDATE SET hash = excluded.hash, fingerprint = excluded.fingerprint, hashed_at = excluded.hashed_at`,
      )
      .run(abs, hash, fingerprint, Date.now());
    return hash;
  }

  // -------------------------------------------------------------------------------------
  // Import and export

  /**
   * Imports PNGs made anywhere. Each file is checked before anything is written; a refused
   * file leaves no row and no file. Unknown or malformed metadata imports the image
   * without parameters and says why.
   */
  async importFiles(paths: string[], options: { projectId?: string } = {}): Promise<ImportFileResult[]> {
    const results: ImportFileResult[] = [];
    for (const file of paths) {
      try {
        results.push(await this.importFile(file, options));
      } catch (error) {
        const e = error instanceof ApiError ? error : new ApiError('internal', error instanceof Error ? error.message : String(error));
        results.push({ path: file, ok: false, error: { code: e.code, message: e.message } });
      }
    }
    return results;
  }

  private async importFile(file: string, options: { projectId?: string }): Promise<ImportFileResult> {
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
      image = await this.storeImage(bytes);
    } catch (error) {
      if (error instanceof ApiError) throw error;
      throw new ApiError('invalid_file', `${file}: the image data cannot be decoded (${error instanceof Error ? error.message : String(error)})`);
    }
    const existing = this.db
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
      this.db.transaction(() => {
        const modelId = meta.modelName ? this.upsertModel(meta.modelName, meta.modelName, meta.modelHash) : null;
        if (options.projectId) this.upsertProject(options.projectId);
        this.insertGeneration({
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
        this.images.ensureFiles(image);
        this.insertImage(image);
        this.insertCandidate(candidateId, generationId, 0, meta.seed, image.sha256, createdAt);
      })();
    } catch (error) {
      // The file went in first; without its row it is an orphan now.
      if (!this.hasImage(image.sha256)) this.images.remove(image.sha256);
      throw error;
    }
    return { path: file, ok: true, generationId, candidateId, source: meta.source, withParameters: meta.seed !== null || meta.prompt !== '', ...(note ? { note } : {}) };
  }

  /**
   * Writes a generation's candidates (or one candidate) as PNGs carrying the A1111
   * `parameters` text and our `atelier` record. Imports without parameters are written as
   * they came in.
   */
  async exportGeneration(id: string, dir: string): Promise<string[]> {
    const record = this.get(id);
    const candidates = id.startsWith('c_') ? record.candidates.filter((c) => c.id === id) : record.candidates;
    await fs.promises.mkdir(dir, { recursive: true });
    const files: string[] = [];
    for (const candidate of candidates) {
      const stored = await fs.promises.readFile(this.imagePath(candidate.sha256));
      const bytes = record.request
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

  // -------------------------------------------------------------------------------------
  // Reliability

  /** PRAGMA quick_check: an empty list means the database is sound. */
  quickCheck(): string[] {
    const rows = this.db.pragma('quick_check') as Array<{ quick_check: string }>;
    return rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
  }

  /**
   * Deeper check: SQLite's quick_check, foreign keys, the FTS index, and rows whose image
   * file is missing. Empty when all is well.
   */
  checkConsistency(): string[] {
    const problems = this.quickCheck();
    for (const fk of this.db.pragma('foreign_key_check') as Array<{ table: string; rowid: number; parent: string }>) {
      problems.push(`${fk.table} row ${fk.rowid} points to a missing ${fk.parent} row`);
    }
    try {
      this.db.prepare("INSERT INTO prompts_fts(prompts_fts, rank) VALUES ('integrity-check', 1)").run();
    } catch (error) {
      problems.push(`full-text index: ${error instanceof Error ? error.message : String(error)}`);
    }
    for (const { sha256 } of this.db.prepare('SELECT sha256 FROM images').iterate() as Iterable<{ sha256: string }>) {
      if (!fs.existsSync(this.imagePath(sha256))) problems.push(`image ${sha256} has a row but no file`);
    }
    return problems;
  }

  /**
   * Removes image files no row points to, image rows nothing references, and leftover
   * temporary files — all older than graceMs (a writer in another process may be between
   * writing a file and committing its row).
   */
  collectOrphans(options: { graceMs?: number } = {}): { files: number; rows: number } {
    const graceMs = options.graceMs ?? 10 * 60_000;
    const cutoff = Date.now() - graceMs;
    const rows = this.db
      .prepare(
        `DELETE FROM images WHERE created_at < ? AND sha256 NOT IN (SELECT image_sha256 FROM candidates)
         AND sha256 NOT IN (SELECT image_sha256 FROM generation_inputs)`,
      )
      .run(cutoff).changes;
    const known = this.db.prepare('SELECT 1 FROM images WHERE sha256 = ?');
    let files = 0;
    for (const entry of this.images.walk()) {
      if (entry.sha256 && known.get(entry.sha256)) continue;
      try {
        if (fs.statSync(entry.file).mtimeMs > cutoff) continue;
        fs.unlinkSync(entry.file);
        files++;
      } catch {
        // gone already
      }
    }
    return { files, rows };
  }

  /** An online backup of the database (SQLite's backup API) to `file`, written atomically. */
  async backup(file: string): Promise<{ file: string; bytes: number }> {
    const target = path.resolve(file);
    if (fs.existsSync(target)) throw new ApiError('conflict', `${target} already exists; choose a new file name`);
    const tmp = `${target}.tmp-${process.pid}`;
    await fs.promises.mkdir(path.dirname(target), { recursive: true });
    try {
      await this.db.backup(tmp);
      const fd = fs.openSync(tmp, 'r+');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fs.renameSync(tmp, target);
      fsyncDir(path.dirname(target));
    } catch (error) {
      fs.rmSync(tmp, { force: true });
      throw error;
    }
    return { file: target, bytes: fs.statSync(target).size };
  }

  private liveMarkers(): number[] {
    return this.markers().filter(isAlive);
  }

  private deadMarkers(): number[] {
    return this.markers().filter((pid) => !isAlive(pid));
  }

  private markers(): number[] {
    return fs
      .readdirSync(this.root)
      .filter((n) => n.startsWith(MARKER_PREFIX))
      .map((n) => Number(n.slice(MARKER_PREFIX.length)))
      .filter((n) => Number.isInteger(n) && n > 0);
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sameHash(a: string, b: string): boolean {
  // A1111-style short hashes (10 hex digits) compare by prefix.
  const n = Math.min(a.length, b.length);
  return n >= 8 && a.slice(0, n).toLowerCase() === b.slice(0, n).toLowerCase();
}

function candidateRecord(row: CandidateRow): CandidateRecord {
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

export { LATEST_VERSION, LibraryVersionError };
