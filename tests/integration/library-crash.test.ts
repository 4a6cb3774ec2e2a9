import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { ImageStore, openLibrary } from '../../app/library/index.js';
import { tempHome } from '../helpers/home.js';

// A writer process is killed with SIGKILL in the middle of a stream of writes; the library
// must reopen sound, with every generation it reported committed present with its files.

const WRITER = path.resolve(import.meta.dirname, 'library-crash-writer.ts');
const { home, cleanup } = tempHome('atelier-crash-');
afterAll(cleanup);

/** Runs the writer until it reported `minCommits`, then SIGKILLs it after a random delay. */
function runAndKill(minCommits: number, extraDelayMs: number): Promise<{ committed: Map<string, string[]>; deleted: Set<string>; deleting: Set<string> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, home], { stdio: ['ignore', 'pipe', 'pipe'] });
    const committed = new Map<string, string[]>();
    const deleted = new Set<string>();
    const deleting = new Set<string>();
    let buffer = '';
    let stderr = '';
    let killing = false;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const line of lines) {
        const [kind, id, ...shas] = line.split(' ');
        if (kind === 'committed') committed.set(id!, shas);
        if (kind === 'deleting') deleting.add(id!);
        if (kind === 'deleted') deleted.add(id!);
      }
      if (!killing && committed.size >= minCommits) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), extraDelayMs);
      }
    });
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer ended on its own (code ${code}): ${stderr}`));
      else resolve({ committed, deleted, deleting });
    });
  });
}

describe('crash safety', () => {
  it('keeps every committed generation and its files across SIGKILLs mid-write', async () => {
    const allCommitted = new Map<string, string[]>();
    const allDeleted = new Set<string>();
    const maybeDeleted = new Set<string>();
    for (const [round, delay] of [7, 23, 41].entries()) {
      const { committed, deleted, deleting } = await runAndKill(12 + round * 4, delay);
      for (const [id, shas] of committed) allCommitted.set(id, shas);
      for (const id of deleted) allDeleted.add(id);
      for (const id of deleting) if (!deleted.has(id)) maybeDeleted.add(id);

      // What the kill left: files without rows (written, never committed) and temp files.
      const raw = new Database(path.join(home, 'library', 'library.sqlite'), { readonly: true });
      const rowsBefore = new Set((raw.prepare('SELECT sha256 FROM images').all() as Array<{ sha256: string }>).map((r) => r.sha256));
      raw.close();
      const leftovers = [...new ImageStore(path.join(home, 'library')).walk()].filter((f) => f.kind === 'tmp' || (f.sha256 && !rowsBefore.has(f.sha256)));
      console.log(`round ${round}: ${committed.size} committed, killed leaving ${leftovers.length} orphaned file(s)`);

      // Reopening after the crash runs the integrity check and collects orphans.
      const library = openLibrary(home);
      try {
        expect(library.checkConsistency()).toEqual([]);
        for (const [id, shas] of allCommitted) {
          if (allDeleted.has(id)) {
            expect(() => library.get(id)).toThrow(/No generation/);
            continue;
          }
          // Killed mid-delete: all gone or all there (checked below with the files).
          if (maybeDeleted.has(id) && !library.db.prepare('SELECT 1 FROM generations WHERE id = ?').get(id)) continue;
          const record = library.get(id);
          expect(record.candidates.map((c) => c.sha256)).toEqual(shas);
          for (const sha of shas) {
            expect(fs.existsSync(library.imagePath(sha))).toBe(true);
            expect(fs.existsSync(library.thumbnailPath(sha))).toBe(true);
          }
        }
        // No row points to a missing file, and no file is left without a row.
        const rows = library.db.prepare('SELECT sha256 FROM images').all() as Array<{ sha256: string }>;
        for (const { sha256 } of rows) expect(fs.existsSync(library.imagePath(sha256))).toBe(true);
        const known = new Set(rows.map((r) => r.sha256));
        const files = [...library.images.walk()];
        expect(files.filter((f) => f.kind === 'tmp')).toEqual([]);
        expect(files.filter((f) => f.sha256 && !known.has(f.sha256))).toEqual([]);
        const search = library.search({ text: 'crash', limit: 500 });
        expect(search.total).toBe((library.db.prepare('SELECT count(*) AS n FROM generations').get() as { n: number }).n);
      } finally {
        library.close();
      }
    }
    expect(allCommitted.size).toBeGreaterThanOrEqual(12 + 16 + 20);
  });
});
