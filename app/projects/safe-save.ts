import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** The previous version kept beside a saved file. */
export function backupPathOf(target: string): string {
  return `${target}.bak`;
}

/**
 * Writes `data` to `target` so that a crash or kill at any instant leaves either the old file
 * or the new one, never a torn mix: write a temp file in the same folder (same file system,
 * so rename is atomic), fsync it, keep the old file as `<target>.bak`, rename the temp file
 * over the target, fsync the folder so the rename itself is durable (POSIX rename(2);
 * the same sequence as write-file-atomic and SQLite's journal).
 */
export async function writeFileAtomic(target: string, data: Uint8Array, options: { backup?: boolean } = {}): Promise<void> {
  const dir = path.dirname(path.resolve(target));
  const temp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await fs.open(temp, 'wx', 0o644);
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.backup !== false) await keepBackup(target);
    await fs.rename(temp, target);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dir);
}

/** Hard-links the current file as the backup (no copy, atomic swap of the old backup). */
async function keepBackup(target: string): Promise<void> {
  const backup = backupPathOf(target);
  const staging = `${backup}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await fs.link(target, staging);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return; // first save: nothing to keep
    // File systems without hard links (FAT, some network shares): copy instead.
    await fs.copyFile(target, staging);
  }
  await fs.rename(staging, backup);
}

/** fsync a folder so a rename or link in it survives a crash. */
export async function syncDirectory(dir: string): Promise<void> {
  // Windows cannot open a folder for fsync; NTFS journals renames and links itself.
  if (process.platform === 'win32') return;
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Leftover temp files of an interrupted save, so a start-up can clean them away. */
export async function strayTempFiles(target: string): Promise<string[]> {
  const dir = path.dirname(path.resolve(target));
  const base = path.basename(target);
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => (n.startsWith(`.${base}.`) || n.startsWith(`${base}.bak.`)) && n.endsWith('.tmp')).map((n) => path.join(dir, n));
}

/** `.NAME.PID.HEX.tmp` (writeFileAtomic) and `NAME.bak.PID.HEX.tmp` (keepBackup): the pid that wrote it. */
const TEMP_NAME = /^(?:\..+|.+\.bak)\.(\d{1,10})\.[0-9a-f]{8}\.tmp$/;
/** A temp file this old is stray whoever wrote it: no save takes a day. */
const STRAY_AGE_MS = 24 * 60 * 60 * 1000;

/** Whether a process with this id runs (recovery notes and temp files name their writer's pid). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temp files that saves in `dir` left when they were killed mid-write (issue 17:
 * 3 of 10 kills left one). A temp file whose writer is still running (this process or another
 * live one) is a save in progress and stays, unless it is a day old. Returns what it removed;
 * a folder that cannot be read has nothing to sweep.
 */
export async function sweepStrayTempFiles(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const match = TEMP_NAME.exec(name);
    if (!match) continue;
    const file = path.join(dir, name);
    const stat = await fs.lstat(file).catch(() => null); // gone since the listing: another sweep took it
    if (!stat?.isFile()) continue;
    const pid = Number(match[1]);
    if (isAlive(pid) && Date.now() - stat.mtimeMs < STRAY_AGE_MS) continue;
    // A folder the artist may read but not write (a shared drive): opening still works, the
    // stray stays for a start that can remove it.
    const gone = await fs.rm(file, { force: true }).then(
      () => true,
      () => false,
    );
    if (gone) removed.push(file);
  }
  return removed;
}
