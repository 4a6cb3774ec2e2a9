import fs from 'node:fs';
import path from 'node:path';

// The on-disk cache of ONNX Runtime's optimised graphs (session.ts, docs/engine.md "Session
// set-up") as the studio, the CLI and the farm worker use it: a folder under the Atelier home,
// set in the engine worker when it starts (EngineClient's `ortCacheDir`, configure.ts), pruned
// to a size bound then, least recently used entries first. No onnxruntime import here: the
// studio process names the folder without loading the engine. An entry is `<key>.onnx` (touched on every
// use) with its weights in `<key>.<pid>.data`; `<key>.<pid>.tmp.onnx` is one being written.

/** Environment: the cache folder for every session of the process ('' turns the cache off); wins over the studio's default. */
export const ORT_CACHE_ENV = 'ATELIER_ORT_CACHE';
/** Environment: the size bound in GiB (default 20). */
export const ORT_CACHE_MAX_ENV = 'ATELIER_ORT_CACHE_MAX_GB';
/** An SD 1.5 UNet optimised for one provider is ≈ 1.7 GB in float16, an SDXL model's parts ≈ 7 GB: a few models on two providers. */
export const DEFAULT_ORT_CACHE_BYTES = 20 * 2 ** 30;

/** Where the studio keeps optimised graphs: `<home>/cache/ort` (beside LoRA-patched models in cache/lora). */
export function ortCacheDir(home: string): string {
  return path.join(home, 'cache', 'ort');
}

export interface PruneResult {
  /** Entries (keys) removed to fit the bound. */
  removed: number;
  /** Files of dead processes' unfinished writes removed. */
  orphans: number;
  /** Bytes the cache holds afterwards. */
  bytes: number;
}

const ENTRY = /^([0-9a-f]{32})\.(?:(\d+)\.(data|tmp\.onnx)|onnx)$/;

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, but belongs to someone else
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes unfinished writes of processes that are gone, then whole entries, least recently used
 * first, until the folder holds at most `maxBytes`. A missing folder is an empty cache.
 */
export function pruneOrtCache(dir: string, maxBytes = DEFAULT_ORT_CACHE_BYTES): PruneResult {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return { removed: 0, orphans: 0, bytes: 0 };
  }
  const entries = new Map<string, { files: string[]; bytes: number; used: number; complete: boolean }>();
  let orphans = 0;
  for (const name of names) {
    const m = ENTRY.exec(name);
    if (!m) continue;
    const [, key, pid, kind] = m;
    const file = path.join(dir, name);
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      continue; // removed meanwhile by another process
    }
    const entry = entries.get(key!) ?? { files: [], bytes: 0, used: 0, complete: false };
    entries.set(key!, entry);
    if (kind === 'tmp.onnx' && !alive(Number(pid))) {
      fs.rmSync(file, { force: true });
      orphans++;
      continue;
    }
    entry.files.push(file);
    entry.bytes += st.size;
    if (!kind) {
      entry.complete = true;
      entry.used = st.mtimeMs;
    } else entry.used = Math.max(entry.used, st.mtimeMs);
  }
  // weights whose graph was never renamed into place, by a process that is gone
  for (const entry of entries.values()) {
    if (entry.complete) continue;
    const writing = entry.files.some((f) => {
      const pid = ENTRY.exec(path.basename(f))?.[2];
      return pid !== undefined && alive(Number(pid));
    });
    if (writing) continue;
    for (const f of entry.files) fs.rmSync(f, { force: true });
    orphans += entry.files.length;
    entry.files = [];
    entry.bytes = 0;
  }
  let bytes = [...entries.values()].reduce((s, e) => s + e.bytes, 0);
  let removed = 0;
  for (const entry of [...entries.values()].filter((e) => e.complete).sort((a, b) => a.used - b.used)) {
    if (bytes <= maxBytes) break;
    for (const f of entry.files) fs.rmSync(f, { force: true });
    bytes -= entry.bytes;
    removed++;
  }
  return { removed, orphans, bytes };
}

/** The size bound from ATELIER_ORT_CACHE_MAX_GB, else the default; anything but a positive number is an error naming it. */
export function ortCacheLimit(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[ORT_CACHE_MAX_ENV]?.trim();
  if (!raw) return DEFAULT_ORT_CACHE_BYTES;
  const gb = Number(raw);
  if (!(gb > 0)) throw new TypeError(`${ORT_CACHE_MAX_ENV}=${raw}: a size in GiB above 0`);
  return Math.round(gb * 2 ** 30);
}

/** What the worker is told when it starts (EngineClient's options). */
export interface EngineSettings {
  /** The optimised-graph cache folder; ignored when ATELIER_ORT_CACHE is set in the worker's environment. */
  ortCacheDir?: string;
}
