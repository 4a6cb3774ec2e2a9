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
 *   await library.putSnapshot(generationId, document, parts); library.snapshot(id);
 *   await library.importFiles(paths); await library.exportGeneration(id, dir); await library.backup(file);
 *   library.imagePath(sha256); library.close();
 *
 * Durability: image files are written (temp, fsync, rename, fsync folder) before the one
 * transaction that records rows pointing to them; a crash leaves at worst unreferenced
 * files, collected on the next open after an unclean shutdown (or by collectOrphans()).
 * Deleting entries removes the rows first, then the files nothing references any more.
 *
 * This class is a facade: each group of methods lives in its own module (recording.ts,
 * reading.ts, curation.ts, lineage.ts, transfer.ts, reliability.ts) over the shared rows of
 * rows.ts, and the methods here only hand them the open database.
 */
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import type {
  CandidateRecord,
  GenerationRecord,
  ImportFileResult,
  LibrarySearchQueryInput,
  LibrarySearchResult,
  LineageResult,
  PromptPhrasesQueryInput,
  PromptPhrasesResult,
  RecallResult,
  StoredSnapshot,
  DocumentSnapshot,
} from '../contract/library.js';
import * as curation from './curation.js';
import { ImageStore, type StoredImage, type StoredImageWithBytes } from './image-store.js';
import * as lineage from './lineage.js';
import * as reading from './reading.js';
import * as recording from './recording.js';
import type { RecordGenerationInput } from './recording.js';
import * as reliability from './reliability.js';
import { LibraryCorruptError, type OpenLibraryOptions, markerPath, sessionMarkers } from './reliability.js';
import * as rows from './rows.js';
import * as snapshots from './snapshots.js';
import type { LibraryDb } from './rows.js';
import { LATEST_VERSION, LibraryVersionError } from './schema.js';
import * as transfer from './transfer.js';

export type { RecordGenerationInput, RecordedCandidate, RgbaImage } from './recording.js';
export { LATEST_VERSION, LibraryCorruptError, LibraryVersionError, type OpenLibraryOptions };

export function libraryRoot(home: string): string {
  return path.join(home, 'library');
}

export function openLibrary(home: string, options: OpenLibraryOptions = {}): Library {
  return new Library(libraryRoot(home), options);
}

export class Library implements LibraryDb {
  readonly root: string;
  readonly dbPath: string;
  readonly images: ImageStore;
  readonly db: Database.Database;
  /** Schema version found on open, before any upgrade. */
  readonly openedFromVersion: number;
  readonly statements = new Map<string, Database.Statement>();
  private readonly marker: string;
  private closed = false;

  constructor(root: string, options: OpenLibraryOptions = {}) {
    this.root = root;
    fs.mkdirSync(root, { recursive: true });
    this.dbPath = path.join(root, 'library.sqlite');
    this.images = new ImageStore(root);
    const unclean = sessionMarkers(root).dead;
    ({ db: this.db, openedFromVersion: this.openedFromVersion } = reliability.openDatabase(this.dbPath, options));
    this.marker = markerPath(root);
    fs.writeFileSync(this.marker, new Date().toISOString());
    if (unclean.length > 0) {
      // The last session ended without close(): files written for rows that never
      // committed may be left over. Another live session may be mid-write, so only files
      // older than a grace period go unless we are alone.
      const alone = sessionMarkers(root).live.length === 1;
      this.collectOrphans({ graceMs: alone ? 0 : 10 * 60_000 });
      for (const pid of unclean) fs.rmSync(markerPath(root, pid), { force: true });
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
    return rows.hasImage(this, sha256);
  }

  // Recording (recording.ts)

  recordGeneration(input: RecordGenerationInput): Promise<GenerationRecord> {
    return recording.recordGeneration(this, input);
  }

  /** Stores PNG bytes as a content-addressed image (and thumbnail); no row yet. */
  storeImage(png: Buffer): Promise<StoredImageWithBytes> {
    return recording.storeImage(this, png);
  }

  /** Inserts a generation row; the caller holds the transaction (bench/library.ts fills libraries this way). */
  insertGeneration(row: Record<string, unknown>): void {
    rows.insertGeneration(this, row);
  }

  insertImage(image: StoredImage): void {
    rows.insertImage(this, image);
  }

  insertCandidate(id: string, generationId: string, index: number, seed: number | null, sha256: string, createdAt: number): void {
    rows.insertCandidate(this, id, generationId, index, seed, sha256, createdAt);
  }

  // Reading (reading.ts, rows.ts)

  search(query: LibrarySearchQueryInput): LibrarySearchResult {
    return reading.search(this, query);
  }

  /** Prompt autocomplete: phrases of recorded prompts that start with the prefix. */
  promptPhrases(input: PromptPhrasesQueryInput): PromptPhrasesResult {
    return reading.promptPhrases(this, input);
  }

  /** A generation (by its id or one of its candidates' ids). */
  get(id: string): GenerationRecord {
    return rows.getRecord(this, id);
  }

  // Rating, tags, deletion (curation.ts)

  rate(candidateId: string, change: { rating?: number; favourite?: boolean; accepted?: boolean }): CandidateRecord {
    return curation.rate(this, candidateId, change);
  }

  tag(generationIds: string[], add: string[] = [], remove: string[] = []): number {
    return curation.tag(this, generationIds, add, remove);
  }

  /** Deletes entries, then the files nothing references; refused for entries with later refinements unless withDescendants. */
  delete(ids: string[], options: { withDescendants?: boolean } = {}): { generations: number; candidates: number; files: number } {
    return curation.deleteEntries(this, ids, options);
  }

  // Lineage and recall (lineage.ts)

  lineage(id: string): LineageResult {
    return lineage.lineage(this, id);
  }

  /** The request that re-runs an entry exactly, with warnings when it may not (see lineage.ts). */
  recall(id: string, options: { currentModelHash?: (model: string) => string | null | undefined } = {}): RecallResult {
    return lineage.recall(this, id, options);
  }

  /** Content hash of a model folder (see model-hash.ts), rehashed only when its files change. */
  modelHash(dir: string): string {
    return lineage.modelHash(this, dir);
  }

  /** A folder's content hash (lineage.contentHash): the model hash, but never an imported checkpoint's source file's. */
  contentHash(dir: string): string {
    return lineage.contentHash(this, dir);
  }

  // Document snapshots (snapshots.ts)

  /** Keeps the document a generation ran from; layer pixels by content hash (docs/canvas.md, "Branches"). */
  putSnapshot(generationId: string, snapshot: DocumentSnapshot, parts: Readonly<Record<string, snapshots.SnapshotPart>>): Promise<StoredSnapshot & { newImages: number; bytes: number }> {
    return snapshots.putSnapshot(this, generationId, snapshot, parts);
  }

  /** The document a generation (or a candidate's generation) ran from, or null. */
  snapshot(id: string): (StoredSnapshot & { snapshot: DocumentSnapshot }) | null {
    return snapshots.getSnapshot(this, id);
  }

  // Import and export (transfer.ts)

  importFiles(paths: string[], options: { projectId?: string } = {}): Promise<ImportFileResult[]> {
    return transfer.importFiles(this, paths, options);
  }

  exportGeneration(id: string, dir: string): Promise<string[]> {
    return transfer.exportGeneration(this, id, dir);
  }

  // Reliability (reliability.ts)

  /** PRAGMA quick_check: an empty list means the database is sound. */
  quickCheck(): string[] {
    return reliability.quickCheck(this);
  }

  checkConsistency(): string[] {
    return reliability.checkConsistency(this);
  }

  collectOrphans(options: { graceMs?: number } = {}): { files: number; rows: number } {
    return reliability.collectOrphans(this, options);
  }

  backup(file: string): Promise<{ file: string; bytes: number }> {
    return reliability.backup(this, file);
  }
}
