import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { syncDirectory } from '../projects/safe-save.js';

// Writing a library image out as a new file in a folder the user named (`atelier generate
// --out`): the bytes the library recorded, so the file carries exactly the stamp the studio's
// copy does. The file appears whole or not at all (temp file, fsync, then a hard link to the
// final name, which also refuses to replace an existing file), and only after the generation
// is in the history — a kill at any moment leaves no PNG the history does not know (issue 17).

const TEMP = /^\..+\.png\.(\d+)\.[0-9a-f]+\.tmp$/;

function tempName(base: string): string {
  return `.${base}.png.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temp files an earlier, killed export left in `dir` (only those of processes that
 * are gone: another export may be writing into the same folder). Returns what it removed.
 */
export async function sweepStrayExports(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const stray = names.filter((n) => {
    const m = TEMP.exec(n);
    return m !== null && !alive(Number(m[1]));
  });
  for (const n of stray) await fs.rm(path.join(dir, n), { force: true });
  return stray.map((n) => path.join(dir, n));
}

/** Codes of file systems without hard links (FAT, exFAT, some network shares). */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/**
 * Writes `bytes` as `<base>.png` in `dir`, or `<base>-2.png`, `-3`, … when that name is taken:
 * two runs in the same second with the same seed never overwrite each other's images.
 * Creates `dir` when missing. Returns the absolute path written.
 */
export async function writeNewPng(dir: string, base: string, bytes: Uint8Array): Promise<string> {
  const folder = path.resolve(dir);
  await fs.mkdir(folder, { recursive: true });
  const temp = path.join(folder, tempName(base));
  const handle = await fs.open(temp, 'wx', 0o644);
  try {
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    for (let n = 1; ; n++) {
      const file = path.join(folder, n === 1 ? `${base}.png` : `${base}-${n}.png`);
      try {
        // link(2) is atomic and fails with EEXIST on a taken name: no overwrite, no torn file.
        await fs.link(temp, file);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? '';
        if (code === 'EEXIST') continue;
        if (!NO_LINKS.has(code)) throw error;
        // Without hard links: rename, after checking the name is free (a concurrent writer
        // choosing the same name in between is the one race left on such file systems).
        if (await fs.lstat(file).then(() => true, () => false)) continue;
        await fs.rename(temp, file);
      }
      await syncDirectory(folder);
      return file;
    }
  } finally {
    await fs.rm(temp, { force: true });
  }
}
