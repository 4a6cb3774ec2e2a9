import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ApiError } from '../contract/errors.js';
import { fsyncDir } from './image-store.js';
import type { LibraryDb } from './rows.js';
import { migrate } from './schema.js';
import { deleteUnusedSnapshots } from './snapshots.js';

// Keeping the library sound: integrity and consistency checks, collecting orphaned files,
// online backups, and the per-process markers that tell a clean shutdown from a crash.

/** PRAGMA quick_check: an empty list means the database is sound. */
export function quickCheck(lib: Pick<LibraryDb, 'db'>): string[] {
  const rows = lib.db.pragma('quick_check') as Array<{ quick_check: string }>;
  return rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
}

/**
 * Deeper check: SQLite's quick_check, foreign keys, the FTS index, and rows whose image
 * file is missing. Empty when all is well.
 */
export function checkConsistency(lib: LibraryDb): string[] {
  const problems = quickCheck(lib);
  for (const fk of lib.db.pragma('foreign_key_check') as Array<{ table: string; rowid: number; parent: string }>) {
    problems.push(`${fk.table} row ${fk.rowid} points to a missing ${fk.parent} row`);
  }
  try {
    lib.db.prepare("INSERT INTO prompts_fts(prompts_fts, rank) VALUES ('integrity-check', 1)").run();
  } catch (error) {
    problems.push(`full-text index: ${error instanceof Error ? error.message : String(error)}`);
  }
  for (const { sha256 } of lib.db.prepare('SELECT sha256 FROM images').iterate() as Iterable<{ sha256: string }>) {
    if (!fs.existsSync(lib.images.imagePath(sha256))) problems.push(`image ${sha256} has a row but no file`);
  }
  return problems;
}

/**
 * Removes image files no row points to, image rows nothing references (no candidate, input
 * or document snapshot), snapshots no generation points to, and leftover
 * temporary files — all older than graceMs (a writer in another process may be between
 * writing a file and committing its row); graceMs 0 takes everything unreferenced.
 */
export function collectOrphans(lib: LibraryDb, options: { graceMs?: number } = {}): { files: number; rows: number } {
  const graceMs = options.graceMs ?? 10 * 60_000;
  // No grace means no age test at all: a file's mtime (fine-grained on newer kernels) can
  // fall in the same millisecond as Date.now(), or after it, and would be spared.
  const cutoff = graceMs > 0 ? Date.now() - graceMs : Number.MAX_SAFE_INTEGER;
  // A snapshot no generation points to goes first, so the layer images only it kept follow.
  deleteUnusedSnapshots(lib, cutoff);
  const rows = lib.db
    .prepare(
      `DELETE FROM images WHERE created_at < ? AND sha256 NOT IN (SELECT image_sha256 FROM candidates)
       AND sha256 NOT IN (SELECT image_sha256 FROM generation_inputs)
       AND sha256 NOT IN (SELECT image_sha256 FROM snapshot_images)`,
    )
    .run(cutoff).changes;
  const known = lib.db.prepare('SELECT 1 FROM images WHERE sha256 = ?');
  let files = 0;
  for (const entry of lib.images.walk()) {
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
export async function backup(lib: LibraryDb, file: string): Promise<{ file: string; bytes: number }> {
  const target = path.resolve(file);
  if (fs.existsSync(target)) throw new ApiError('conflict', `${target} already exists; choose a new file name`);
  const tmp = `${target}.tmp-${process.pid}`;
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  try {
    await lib.db.backup(tmp);
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

// ---------------------------------------------------------------------------------------
// Opening

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

/** Opens (and migrates) the database with the settings the library relies on; closes it again on any failure. */
export function openDatabase(dbPath: string, options: OpenLibraryOptions): { db: Database.Database; openedFromVersion: number } {
  const db = new Database(dbPath);
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    // FULL: a committed generation survives power loss, not only a crashed process.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // Search touches the FTS index and the generation rows at random: keep a good part of
    // a large library in memory (64 MiB page cache, up to 1 GiB memory-mapped).
    db.pragma('cache_size = -65536');
    db.pragma('mmap_size = 1073741824');
    db.pragma('temp_store = MEMORY');
    if (options.checkIntegrity !== false) {
      const problems = quickCheck({ db });
      if (problems.length > 0) throw new LibraryCorruptError(dbPath, problems);
    }
    const openedFromVersion = migrate(db, options.targetVersion).from;
    // Planner statistics: without them SQLite may walk a broad index (mode = 'txt2img')
    // instead of the few FTS matches. analysis_limit keeps ANALYZE to a sample (ms, not
    // seconds); 0x10002 analyzes tables that never were (sqlite.org/pragma.html#pragma_optimize).
    db.pragma('analysis_limit = 1000');
    db.pragma('optimize = 0x10002');
    return { db, openedFromVersion };
  } catch (error) {
    db.close();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------
// Session markers: <root>/.open-<pid> exists while a process has the library open, so the
// next open can tell that one ended without close() (and may have left orphaned files).

const MARKER_PREFIX = '.open-';

export function markerPath(root: string, pid = process.pid): string {
  return path.join(root, `${MARKER_PREFIX}${pid}`);
}

/** Process ids of the markers in `root`, split by whether the process still runs. */
export function sessionMarkers(root: string): { live: number[]; dead: number[] } {
  const pids = fs
    .readdirSync(root)
    .filter((n) => n.startsWith(MARKER_PREFIX))
    .map((n) => Number(n.slice(MARKER_PREFIX.length)))
    .filter((n) => Number.isInteger(n) && n > 0);
  return { live: pids.filter(isAlive), dead: pids.filter((pid) => !isAlive(pid)) };
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
