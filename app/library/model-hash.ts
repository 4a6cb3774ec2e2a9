import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

// A model's content hash: SHA-256 over its files in path order, each as
// "relative/path\0<size>\0<sha256 of the bytes>\n". Hidden files are skipped. A folder of
// gigabytes takes seconds to hash, so callers keep the result with the folder's
// fingerprint (paths, sizes, mtimes) and rehash only when the fingerprint changes.

export interface ModelFile {
  rel: string;
  abs: string;
  size: number;
  mtimeMs: number;
}

export function listModelFiles(dir: string): ModelFile[] {
  const out: ModelFile[] = [];
  const visit = (rel: string): void => {
    const abs = path.join(dir, rel);
    for (const entry of fs.readdirSync(abs, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      const stat = fs.statSync(path.join(abs, entry.name));
      if (stat.isDirectory()) visit(childRel);
      else if (stat.isFile()) out.push({ rel: childRel, abs: path.join(abs, entry.name), size: stat.size, mtimeMs: stat.mtimeMs });
    }
  };
  const stat = fs.statSync(dir);
  if (stat.isFile()) return [{ rel: path.basename(dir), abs: dir, size: stat.size, mtimeMs: stat.mtimeMs }];
  visit('');
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

export function modelFingerprint(files: ModelFile[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(`${f.rel}\0${f.size}\0${Math.round(f.mtimeMs)}\n`);
  return h.digest('hex');
}

export function hashModelFiles(files: ModelFile[]): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  for (const f of files) {
    const fileHash = createHash('sha256');
    const fd = fs.openSync(f.abs, 'r');
    try {
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        fileHash.update(buf.subarray(0, n));
      }
    } finally {
      fs.closeSync(fd);
    }
    h.update(`${f.rel}\0${f.size}\0${fileHash.digest('hex')}\n`);
  }
  return h.digest('hex');
}

const contentHashes = new Map<string, { fingerprint: string; hash: string }>();

/**
 * A folder's content hash (hashModelFiles over listModelFiles), kept for this process while the
 * folder's fingerprint holds. Unlike the library's model hash, which names an imported
 * checkpoint by its source file's sha256 (A1111's "Model hash"), this is always what the
 * folder's files make: what a farm worker checks a model it fetched or holds against.
 */
export function folderContentHash(dir: string): string {
  const abs = path.resolve(dir);
  const files = listModelFiles(abs);
  const fingerprint = modelFingerprint(files);
  const known = contentHashes.get(abs);
  if (known?.fingerprint === fingerprint) return known.hash;
  const hash = hashModelFiles(files);
  contentHashes.set(abs, { fingerprint, hash });
  return hash;
}
