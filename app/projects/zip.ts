import { Buffer } from 'node:buffer';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { ApiError } from '../contract/errors.js';

// Zip containers (.atelier, .ora) read defensively: every file is hostile until validated.
// Entries are inflated into memory only when the reader refers to them (never extracted to
// disk), so a crafted name can never write anywhere and an unreferenced bomb costs nothing — but names that would be dangerous elsewhere (absolute, `..`, symlinks,
// duplicates) are refused outright so such a file cannot even half-load.

export interface ZipLimits {
  /** Most entries (directories included). */
  maxEntries: number;
  /** Most inflated bytes of one entry, counted while inflating (not trusted from headers). */
  maxEntryBytes: number;
  /** Most inflated bytes of all entries together. */
  maxTotalBytes: number;
  /** Largest inflated/compressed ratio accepted for entries above `ratioFloorBytes`. */
  maxRatio: number;
  ratioFloorBytes: number;
}

// Deflate tops out near 1032:1 on runs of one byte; PNG parts barely compress, JSON ~10:1.
// 200:1 leaves room for huge flat masks while a classic bomb (≥1000:1) is refused up front.
export const DEFAULT_ZIP_LIMITS: ZipLimits = {
  maxEntries: 10_000,
  maxEntryBytes: 256 * 1024 * 1024,
  maxTotalBytes: 1024 * 1024 * 1024,
  maxRatio: 200,
  ratioFloorBytes: 1024 * 1024,
};

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
/** "version made by" high byte 3 = Unix: only then do the external attributes carry a mode. */
const UNIX_HOST = 3;

function refuse(message: string, details?: unknown): never {
  throw new ApiError('invalid_file', message, details);
}

/** Why a zip entry name is unsafe, or null. Stricter than yauzl's own check: also NUL, control characters, `.` segments. */
export function unsafeEntryName(name: string): string | null {
  if (name.length === 0) return 'an empty name';
  if (name.length > 1024) return 'a name over 1024 characters';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.startsWith('\\')) return 'an absolute path';
  if (name.includes('\\')) return 'a backslash in the name';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'a control character in the name';
  const segments = name.replace(/\/$/, '').split('/');
  if (segments.some((s) => s === '..')) return 'a ".." path segment';
  if (segments.some((s) => s === '.' || s === '')) return 'an empty or "." path segment';
  return null;
}

export interface ZipContents {
  /** File entries by name, in archive order (directories left out). */
  files: Map<string, Buffer>;
}

/**
 * Bytes inflated from zips (and decoded from PSD layers) by every import running in this
 * process at once. One hostile upload is bounded by its own limits; this bounds several
 * concurrent ones (web mode takes uploads in parallel), refusing with `busy` rather than
 * letting the process grow past it (issue 17).
 */
export class DecodeBudget {
  private used = 0;

  constructor(readonly limitBytes: number) {}

  get inUse(): number {
    return this.used;
  }

  /** Takes `bytes` from the budget or throws ApiError('busy') naming the limit. */
  reserve(bytes: number, what: string): void {
    if (this.used + bytes > this.limitBytes) {
      throw new ApiError('busy', `Opening ${what} needs ${bytes} more bytes while other files are being read; the studio decodes at most ${this.limitBytes} bytes at once. Try again when they are done.`, {
        limitBytes: this.limitBytes,
      });
    }
    this.used += bytes;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}

/** Shared by all imports of this process: twice one project's own inflated limit. */
export const DECODE_BUDGET = new DecodeBudget(2 * DEFAULT_ZIP_LIMITS.maxTotalBytes);

/**
 * A zip whose central directory has been checked (names, duplicates, links, encryption,
 * declared sizes and ratios) but whose entries are inflated only when asked for: an entry the
 * reader never refers to costs nothing, whatever it claims to hold.
 */
export interface ZipArchive {
  /** File entry names in archive order (directories left out). */
  readonly names: readonly string[];
  has(name: string): boolean;
  /** Inflates one entry (at most once), counted against the archive's and the process's budgets; undefined when absent. */
  read(name: string): Promise<Buffer | undefined>;
}

const OPTIONS: yauzl.Options = { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: true, decodeStrings: true };

/**
 * Opens a zip (path or bytes) within `limits`, runs `use` on it and closes it, returning the
 * budget it took. Throws ApiError('invalid_file') naming the problem for a hostile or corrupt
 * archive, 'not_found' for an unreadable path.
 */
export async function withZip<T>(
  source: string | Buffer,
  limits: ZipLimits,
  label: string,
  use: (zip: ZipArchive) => Promise<T>,
  budget: DecodeBudget = DECODE_BUDGET,
): Promise<T> {
  let zip: yauzl.ZipFile;
  try {
    zip = typeof source === 'string' ? await yauzl.openPromise(source, OPTIONS) : await yauzl.fromBufferPromise(source, OPTIONS);
  } catch (error) {
    if (error instanceof Error && 'code' in error && (error.code === 'ENOENT' || error.code === 'EACCES' || error.code === 'EISDIR')) {
      throw new ApiError('not_found', `Cannot read ${label}: ${error.message}`);
    }
    refuse(`The ${label} is not a readable zip archive: ${error instanceof Error ? error.message : String(error)}`);
  }
  let reserved = 0;
  try {
    const entries = await directory(zip, limits, label);
    let total = 0;
    const cache = new Map<string, Buffer>();
    const archive: ZipArchive = {
      names: [...entries.keys()],
      has: (name) => entries.has(name),
      read: async (name) => {
        const entry = entries.get(name);
        if (!entry) return undefined;
        const cached = cache.get(name);
        if (cached) return cached;
        const allowed = Math.min(limits.maxEntryBytes, limits.maxTotalBytes - total);
        if (entry.uncompressedSize > allowed) refuse(`The ${label} inflates to more than ${limits.maxTotalBytes} bytes`);
        // Reserve what the header declares; the inflater below never lets the entry exceed it.
        budget.reserve(entry.uncompressedSize, `the ${label}`);
        reserved += entry.uncompressedSize;
        total += entry.uncompressedSize;
        const data = await readEntry(zip, entry, entry.uncompressedSize, label);
        cache.set(name, data);
        return data;
      },
    };
    return await use(archive);
  } finally {
    budget.release(reserved);
    zip.close();
  }
}

/** Walks the central directory, refusing anything unsafe before a byte is inflated. */
async function directory(zip: yauzl.ZipFile, limits: ZipLimits, label: string): Promise<Map<string, yauzl.Entry>> {
  if (zip.entryCount > limits.maxEntries) refuse(`The ${label} has ${zip.entryCount} entries; at most ${limits.maxEntries} are accepted`);
  const files = new Map<string, yauzl.Entry>();
  const seen = new Set<string>();
  const entries = zip.eachEntry();
  for (;;) {
    let next: IteratorResult<yauzl.Entry>;
    try {
      next = await entries.next();
    } catch (error) {
      // yauzl's own name checks (absolute, "..", backslash) and header corruption land here.
      refuse(`The ${label} has an unsafe or corrupt entry: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (next.done) break;
    const entry = next.value;
    const name = entry.fileName;
    const unsafe = unsafeEntryName(name);
    if (unsafe) refuse(`The ${label} has an entry with ${unsafe}: ${JSON.stringify(name.slice(0, 200))}`);
    // Case- and Unicode-insensitive: two names that one file system would merge are a trick.
    const key = name.normalize('NFC').toLowerCase().replace(/\/$/, '');
    if (seen.has(key)) refuse(`The ${label} has two entries named ${JSON.stringify(name)}`);
    seen.add(key);
    const host = entry.versionMadeBy >> 8;
    const mode = entry.externalFileAttributes >>> 16;
    if (host === UNIX_HOST && (mode & S_IFMT) === S_IFLNK) refuse(`The ${label} has a symbolic link entry: ${JSON.stringify(name)}`);
    if (entry.isEncrypted()) refuse(`The ${label} has an encrypted entry: ${JSON.stringify(name)}`);
    if (name.endsWith('/')) continue;
    if (entry.uncompressedSize > limits.maxEntryBytes) refuse(`The entry ${JSON.stringify(name)} inflates to ${entry.uncompressedSize} bytes; at most ${limits.maxEntryBytes} are accepted`);
    if (entry.uncompressedSize > limits.ratioFloorBytes && entry.uncompressedSize / Math.max(1, entry.compressedSize) > limits.maxRatio) {
      refuse(`The entry ${JSON.stringify(name)} compresses ${Math.round(entry.uncompressedSize / Math.max(1, entry.compressedSize))}:1, a zip bomb pattern`);
    }
    files.set(name, entry);
  }
  return files;
}

/**
 * Reads a whole zip into memory within `limits`, or throws ApiError('invalid_file') naming
 * the problem. For tools and tests that want every entry; importers use {@link withZip}.
 */
export async function readZip(source: string | Buffer, limits: ZipLimits = DEFAULT_ZIP_LIMITS, label = 'file'): Promise<ZipContents> {
  return withZip(source, limits, label, async (zip) => {
    const files = new Map<string, Buffer>();
    for (const name of zip.names) files.set(name, (await zip.read(name))!);
    return { files };
  });
}

/** Inflates one entry, counting bytes as they come: a header that lies about sizes gains nothing. */
async function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, budget: number, label: string): Promise<Buffer> {
  let stream;
  try {
    stream = await zip.openReadStreamPromise(entry);
  } catch (error) {
    refuse(`The ${label} entry ${JSON.stringify(entry.fileName)} cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > budget) {
        stream.destroy();
        refuse(`The entry ${JSON.stringify(entry.fileName)} inflates past the ${budget} bytes its header declares`);
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof ApiError) throw error;
    refuse(`The ${label} entry ${JSON.stringify(entry.fileName)} is corrupt: ${error instanceof Error ? error.message : String(error)}`);
  }
  return Buffer.concat(chunks, size);
}

export interface ZipEntryToWrite {
  name: string;
  data: Uint8Array;
  /** false for parts that are already compressed (PNG) or must be stored (ORA's mimetype). */
  compress: boolean;
}

/** Writes entries in the given order into a zip held in memory. */
export async function writeZip(entries: readonly ZipEntryToWrite[], mtime = new Date(Date.UTC(1980, 0, 2))): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const entry of entries) {
    // A fixed mtime keeps identical documents byte-identical (diffable, dedupable backups).
    zip.addBuffer(Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength), entry.name, { compress: entry.compress, mtime, mode: 0o100644 });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
