import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { type PngLimits, readPngMetadata } from '../formats/png-metadata.js';

// Content-addressed images: <root>/images/ab/abcdef….png named by the SHA-256 of the
// bytes, thumbnails at <root>/thumbs/ab/abcdef….webp (named by the same hash). A file is
// written to a temporary name, fsynced, renamed into place and its folder fsynced before
// any row points to it (POSIX rename is atomic within a folder), so a crash leaves at
// worst an unreferenced file, which collectOrphans removes — never a row without a file.

export const THUMBNAIL_SIZE = 256;
const TMP_PREFIX = '.tmp-';

export interface StoredImage {
  sha256: string;
  width: number;
  height: number;
  bytes: number;
  thumbWidth: number;
  thumbHeight: number;
}

/** A stored image with its bytes at hand, so a file lost to a concurrent delete can be rewritten. */
export interface StoredImageWithBytes extends StoredImage {
  png: Buffer;
  thumb: Buffer;
}

export class ImageStore {
  constructor(readonly root: string) {
    fs.mkdirSync(path.join(root, 'images'), { recursive: true });
    fs.mkdirSync(path.join(root, 'thumbs'), { recursive: true });
  }

  imagePath(sha256: string): string {
    assertSha(sha256);
    return path.join(this.root, 'images', sha256.slice(0, 2), `${sha256}.png`);
  }

  thumbnailPath(sha256: string): string {
    assertSha(sha256);
    return path.join(this.root, 'thumbs', sha256.slice(0, 2), `${sha256}.webp`);
  }

  /**
   * Stores PNG bytes (checked by readPngMetadata first, then fully decoded by sharp for the
   * thumbnail, so a truncated or corrupt image is refused here) and its thumbnail.
   * Throws before writing anything when the image is refused.
   */
  async store(png: Buffer, limits?: Partial<PngLimits>): Promise<StoredImageWithBytes> {
    const meta = readPngMetadata(png, limits);
    const sha256 = createHash('sha256').update(png).digest('hex');
    const { data: thumb, info } = await sharp(png, { limitInputPixels: meta.width * meta.height, failOn: 'error' })
      .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer({ resolveWithObject: true });
    writeFileDurably(this.imagePath(sha256), png, { skipIfSameSize: true });
    writeFileDurably(this.thumbnailPath(sha256), thumb, { skipIfSameSize: false });
    return { sha256, width: meta.width, height: meta.height, bytes: png.length, thumbWidth: info.width, thumbHeight: info.height, png, thumb };
  }

  /**
   * Called inside the transaction that records rows pointing to the image: if another
   * process deleted the file (it was unreferenced then) after store() found it present,
   * write it again. The write lock held by the transaction orders this against deletes.
   */
  ensureFiles(image: StoredImageWithBytes): void {
    if (!fs.existsSync(this.imagePath(image.sha256))) writeFileDurably(this.imagePath(image.sha256), image.png);
    if (!fs.existsSync(this.thumbnailPath(image.sha256))) writeFileDurably(this.thumbnailPath(image.sha256), image.thumb);
  }

  /** Every image hash with a file on disk, and leftover temporary files. */
  *walk(): Generator<{ kind: 'image' | 'thumb' | 'tmp'; file: string; sha256?: string }> {
    for (const [kind, dir, ext] of [['image', 'images', '.png'], ['thumb', 'thumbs', '.webp']] as const) {
      const top = path.join(this.root, dir);
      for (const shard of safeReaddir(top)) {
        const shardDir = path.join(top, shard);
        for (const name of safeReaddir(shardDir)) {
          const file = path.join(shardDir, name);
          if (name.startsWith(TMP_PREFIX)) yield { kind: 'tmp', file };
          else if (name.endsWith(ext) && /^[0-9a-f]{64}$/.test(name.slice(0, -ext.length))) yield { kind, file, sha256: name.slice(0, -ext.length) };
        }
      }
    }
  }

  /** Removes an image and its thumbnail; returns how many files went. */
  remove(sha256: string): number {
    let removed = 0;
    for (const file of [this.imagePath(sha256), this.thumbnailPath(sha256)]) {
      try {
        fs.unlinkSync(file);
        removed++;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    return removed;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function assertSha(sha256: string): void {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`Not a SHA-256: ${sha256}`);
}

/** Temp file in the same folder, fsync, rename, fsync the folder. */
export function writeFileDurably(file: string, bytes: Uint8Array, opts: { skipIfSameSize?: boolean } = {}): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  if (opts.skipIfSameSize) {
    try {
      if (fs.statSync(file).size === bytes.length) return;
    } catch {
      // not there yet
    }
  }
  const tmp = path.join(dir, `${TMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
  const fd = fs.openSync(tmp, 'wx');
  try {
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw error;
  }
  fsyncDir(dir);
}

export function fsyncDir(dir: string): void {
  // Windows cannot open a folder for fsync; NTFS journals the rename itself.
  if (process.platform === 'win32') return;
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
