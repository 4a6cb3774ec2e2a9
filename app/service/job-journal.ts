import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { GenerationRequest } from '../contract/index.js';

// The local job queue's journal (docs: issue 15, "connection and queue survive"): every job
// waiting or running is a row in <home>/queue.sqlite until it ends, so that after a crash
// or a kill the studio finds them again — waiting jobs are queued again, a job that was
// running is recorded as failed with the reason — instead of losing them silently. Requests
// are kept as the service received them (images inline), so a job needs nothing else to run.
// A farm keeps its jobs in Redis and does not use this. Each row names the process that owns
// it: a studio and an `atelier generate` may share a data folder, and one starting must not
// take over the jobs of the other while it still runs.

export interface JournalEntry {
  jobId: string;
  request: GenerationRequest;
  state: 'queued' | 'running';
  queuedAt: string;
}

/** A row whose request no longer parses (written by another version): reported, not run. */
export interface UnreadableEntry {
  jobId: string;
  state: string;
  error: string;
}

export class JobJournal {
  private constructor(private readonly db: Database.Database) {}

  /** Opens (creating) the journal in `home`. */
  static open(home: string): JobJournal {
    fs.mkdirSync(home, { recursive: true });
    const db = new Database(path.join(home, 'queue.sqlite'));
    // FULL: a job the studio answered with a job id is on disk before the answer leaves.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(`CREATE TABLE IF NOT EXISTS jobs (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      job_id TEXT NOT NULL UNIQUE,
      state TEXT NOT NULL CHECK (state IN ('queued', 'running')),
      queued_at TEXT NOT NULL,
      request_json TEXT NOT NULL,
      pid INTEGER NOT NULL
    )`);
    return new JobJournal(db);
  }

  add(jobId: string, request: GenerationRequest, queuedAt: string): void {
    this.db.prepare('INSERT INTO jobs (job_id, state, queued_at, request_json, pid) VALUES (?, ?, ?, ?, ?)').run(jobId, 'queued', queuedAt, JSON.stringify(request), process.pid);
  }

  markRunning(jobId: string): void {
    this.db.prepare("UPDATE jobs SET state = 'running' WHERE job_id = ?").run(jobId);
  }

  /** A job queued again after a restart takes its new id, keeping its place. */
  rename(from: string, to: string): void {
    this.db.prepare("UPDATE jobs SET job_id = ?, state = 'queued', pid = ? WHERE job_id = ?").run(to, process.pid, from);
  }

  remove(jobId: string): void {
    this.db.prepare('DELETE FROM jobs WHERE job_id = ?').run(jobId);
  }

  /**
   * What the journal holds, oldest first. `left: true`: only the jobs of processes that are no
   * longer running (what a crash or a kill left), not those of another studio or `atelier
   * generate` at work on the same data folder.
   */
  entries(options: { left?: boolean } = {}): { entries: JournalEntry[]; unreadable: UnreadableEntry[] } {
    const rows = this.db.prepare('SELECT job_id, state, queued_at, request_json, pid FROM jobs ORDER BY seq').all() as Array<{ job_id: string; state: string; queued_at: string; request_json: string; pid: number }>;
    const entries: JournalEntry[] = [];
    const unreadable: UnreadableEntry[] = [];
    for (const row of rows) {
      if (options.left && processAlive(row.pid)) continue;
      let parsed: ReturnType<typeof GenerationRequest.safeParse>;
      try {
        parsed = GenerationRequest.safeParse(JSON.parse(row.request_json));
      } catch (error) {
        unreadable.push({ jobId: row.job_id, state: row.state, error: error instanceof Error ? error.message : String(error) });
        continue;
      }
      if (parsed.success && (row.state === 'queued' || row.state === 'running')) entries.push({ jobId: row.job_id, request: parsed.data, state: row.state, queuedAt: row.queued_at });
      else unreadable.push({ jobId: row.job_id, state: row.state, error: parsed.success ? `unknown state "${row.state}"` : parsed.error.message });
    }
    return { entries, unreadable };
  }

  close(): void {
    this.db.close();
  }
}

/** Whether a process with this id runs (ours included); EPERM means it runs as another user. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
