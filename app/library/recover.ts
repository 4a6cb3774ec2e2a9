import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Library, libraryRoot } from './library.js';

// The recovery path for a library that fails its integrity check: move the damaged
// database aside (never delete it), start a fresh one, and copy every row that can still
// be read, table by table, dropping rows that lost what they point to. Images are files
// and were never at risk; rows that reach them come back with the salvage.

const TABLES = ['images', 'models', 'projects', 'tags', 'snapshots', 'snapshot_images', 'generations', 'candidates', 'generation_inputs', 'generation_tags'] as const;

export interface RecoveryReport {
  damagedCopy: string;
  copied: Record<string, number>;
  unreadable: string[];
  dropped: number;
}

export function recoverLibrary(home: string): RecoveryReport {
  const root = libraryRoot(home);
  const dbPath = path.join(root, 'library.sqlite');
  if (!fs.existsSync(dbPath)) throw new Error(`No library database at ${dbPath}`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const damagedCopy = `${dbPath}.damaged-${stamp}`;
  // The WAL and shared-memory files travel with the database so committed pages are kept.
  for (const suffix of ['', '-wal', '-shm']) {
    if (fs.existsSync(dbPath + suffix)) fs.renameSync(dbPath + suffix, damagedCopy + suffix);
  }
  const report: RecoveryReport = { damagedCopy, copied: {}, unreadable: [], dropped: 0 };
  const fresh = new Library(root, { checkIntegrity: false });
  let damaged: Database.Database | undefined;
  try {
    damaged = new Database(damagedCopy, { fileMustExist: true });
    fresh.db.pragma('foreign_keys = OFF');
    for (const table of TABLES) {
      let copied = 0;
      try {
        const columns = (damaged.pragma(`table_info(${table})`) as Array<{ name: string }>).map((c) => c.name);
        const freshColumns = new Set((fresh.db.pragma(`table_info(${table})`) as Array<{ name: string }>).map((c) => c.name));
        const shared = columns.filter((c) => freshColumns.has(c));
        if (shared.length === 0) throw new Error('table missing');
        const insert = fresh.db.prepare(`INSERT OR IGNORE INTO ${table} (${shared.join(', ')}) VALUES (${shared.map(() => '?').join(', ')})`);
        fresh.db.transaction(() => {
          for (const row of damaged!.prepare(`SELECT ${shared.join(', ')} FROM ${table}`).raw().iterate() as Iterable<unknown[]>) {
            insert.run(...row);
            copied++;
          }
        })();
      } catch (error) {
        report.unreadable.push(`${table}: ${error instanceof Error ? error.message : String(error)} (${copied} rows read before)`);
      }
      report.copied[table] = copied;
    }
    // Rows whose parents were lost cannot stay.
    for (;;) {
      const broken = fresh.db.pragma('foreign_key_check') as Array<{ table: string; rowid: number }>;
      if (broken.length === 0) break;
      for (const b of broken) report.dropped += fresh.db.prepare(`DELETE FROM ${b.table} WHERE rowid = ?`).run(b.rowid).changes;
    }
    fresh.db.pragma('foreign_keys = ON');
    fresh.db.exec("INSERT INTO prompts_fts(prompts_fts) VALUES ('rebuild')");
  } finally {
    damaged?.close();
    fresh.close();
  }
  return report;
}
