import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { ProjectDocument, RecoveryEntry } from '../contract/projects.js';
import type { ProjectAssets } from './document/index.js';
import { encodeProjectFile, readProjectFile } from './atelier-file.js';
import { isAlive, writeFileAtomic } from './safe-save.js';

// Crash recovery: while a project has unsaved changes, autosave writes it to
// <ATELIER_HOME>/recovery/<session>.atelier (atomically) with a small JSON beside it. A clean
// close deletes both; whatever is still there at the next start came from a session that
// died, and is offered back.

const RecoveryMeta = z.object({
  sessionId: z.string(),
  name: z.string(),
  path: z.string().nullable(),
  savedAt: z.string(),
  pid: z.number().int(),
});
type RecoveryMeta = z.infer<typeof RecoveryMeta>;

const ID = /^[A-Za-z0-9_-]{1,64}$/;

export class RecoveryFolder {
  readonly dir: string;

  constructor(home: string) {
    this.dir = path.join(home, 'recovery');
  }

  private files(id: string): { project: string; meta: string } {
    if (!ID.test(id)) throw new Error(`Invalid recovery id "${id}"`);
    return { project: path.join(this.dir, `${id}.atelier`), meta: path.join(this.dir, `${id}.json`) };
  }

  async write(sessionId: string, document: ProjectDocument, assets: ProjectAssets, savedTo: string | null, appVersion: string): Promise<string> {
    await fs.mkdir(this.dir, { recursive: true });
    const savedAt = new Date().toISOString();
    const { project, meta } = this.files(sessionId);
    await writeFileAtomic(project, await encodeProjectFile(document, assets, appVersion, savedAt), { backup: false });
    const info: RecoveryMeta = { sessionId, name: document.name, path: savedTo, savedAt, pid: process.pid };
    // The meta is written after the project, so a listed recovery always has its file.
    await writeFileAtomic(meta, Buffer.from(JSON.stringify(info)), { backup: false });
    return savedAt;
  }

  async remove(sessionId: string): Promise<boolean> {
    const { project, meta } = this.files(sessionId);
    const existed = await fs.stat(meta).then(() => true, () => false);
    await fs.rm(meta, { force: true });
    await fs.rm(project, { force: true });
    return existed;
  }

  /** Recoveries left by sessions that are gone (not this process's open ones, not another live Atelier's). */
  async list(openHere: ReadonlySet<string>): Promise<RecoveryEntry[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]); // no recovery folder yet: nothing to recover
    const entries: RecoveryEntry[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const id = name.slice(0, -5);
      if (!ID.test(id) || openHere.has(id)) continue;
      // A note that vanished or is half written (its session is still saving) is skipped like an invalid one.
      const meta = RecoveryMeta.safeParse(await fs.readFile(path.join(this.dir, name), 'utf8').then(JSON.parse, () => null));
      if (!meta.success) continue;
      if (meta.data.pid !== process.pid && isAlive(meta.data.pid)) continue;
      if (meta.data.pid === process.pid && openHere.has(meta.data.sessionId)) continue;
      entries.push({ recoveryId: id, name: meta.data.name, path: meta.data.path, savedAt: meta.data.savedAt });
    }
    return entries.sort((a, b) => b.savedAt.localeCompare(a.savedAt));
  }

  async read(recoveryId: string): Promise<{ document: ProjectDocument; assets: ProjectAssets; path: string | null }> {
    const { project, meta } = this.files(recoveryId);
    const info = RecoveryMeta.parse(JSON.parse(await fs.readFile(meta, 'utf8')));
    const file = await readProjectFile(project);
    return { document: file.document, assets: file.assets, path: info.path };
  }
}
