import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { GenerationRequest } from '../../contract/index.js';

// The studio's ledger of its farm jobs (docs/farm.md, "Nothing lost"): one small JSON file per
// job under <home>/farm/pending, written (temp file, fsync, rename) before the job enters the
// queue and removed after its result is in the library and Redis has forgotten it. It keeps
// what the record needs that workers must not see (the request as the artist sent it, with its
// own image references), and `generationId` once recorded, so a studio that stops between the
// library's commit and Redis's removal does not record the job twice when it starts again.

const Record = z.object({
  jobId: z.string().regex(/^j_[0-9a-f-]{36}$/),
  request: GenerationRequest,
  queuedAt: z.string(),
  device: z.string(),
  /** Set once the outcome is in the library ('' for a failure). */
  generationId: z.string().optional(),
  /** The studio process following the job (several may share a home: the web server and `atelier generate`). */
  owner: z.object({ host: z.string(), pid: z.number().int(), instance: z.string() }).optional(),
});
export type PendingRecord = z.infer<typeof Record>;

export class PendingStore {
  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private file(jobId: string): string {
    if (!/^j_[0-9a-f-]{36}$/.test(jobId)) throw new Error(`Not a job id: ${jobId}`);
    return path.join(this.dir, `${jobId}.json`);
  }

  write(record: PendingRecord): void {
    const file = this.file(record.jobId);
    const tmp = `${file}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(record));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  }

  read(jobId: string): PendingRecord | undefined {
    try {
      return Record.parse(JSON.parse(fs.readFileSync(this.file(jobId), 'utf8')));
    } catch {
      return undefined; // missing (collected already) or unreadable (never fully written: the rename did not happen)
    }
  }

  markRecorded(jobId: string, generationId: string): void {
    const record = this.read(jobId);
    if (record) this.write({ ...record, generationId });
  }

  remove(jobId: string): void {
    fs.rmSync(this.file(jobId), { force: true });
  }

  list(): PendingRecord[] {
    const out: PendingRecord[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      if (name.endsWith('.tmp')) {
        fs.rmSync(path.join(this.dir, name), { force: true }); // a write that never finished: its job never entered the queue
        continue;
      }
      const record = name.endsWith('.json') ? this.read(name.slice(0, -5)) : undefined;
      if (record) out.push(record);
    }
    return out.sort((a, b) => a.queuedAt.localeCompare(b.queuedAt));
  }
}

/** Farm back-ends open in this process, by instance id. */
const openInstances = new Set<string>();

/** A new owner identity for one studio's farm back-end; `release` when it closes. */
export function claimOwner(): { owner: NonNullable<PendingRecord['owner']>; release(): void } {
  const owner = { host: os.hostname(), pid: process.pid, instance: crypto.randomUUID() };
  openInstances.add(owner.instance);
  return { owner, release: () => openInstances.delete(owner.instance) };
}

/**
 * Whether the studio that owns a ledger entry is still following it: an open back-end in this
 * process, or a live process on this host. Another host's owner (a home on a network share)
 * counts as gone; Redis's collect claim still keeps the record single.
 */
export function ownerAlive(owner: PendingRecord['owner']): boolean {
  if (!owner || owner.host !== os.hostname()) return false;
  if (owner.pid === process.pid) return openInstances.has(owner.instance);
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, another user's; ESRCH: gone.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This studio's id in the farm, kept in its home so that a restarted studio knows its own jobs. */
export function studioIdentity(dir: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, 'studio-id');
  try {
    const id = fs.readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9_-]{8,64}$/.test(id)) return id;
  } catch {
    // First start: made below.
  }
  const id = `s_${crypto.randomBytes(12).toString('base64url')}`;
  fs.writeFileSync(file, id, { mode: 0o600 });
  return id;
}
