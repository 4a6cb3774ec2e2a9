import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GenerationRequest } from '../../app/contract/index.js';
import { EngineClient } from '../../app/engine/client.js';
import { configureEngine } from '../../app/engine/model/configure.js';
import { DEFAULT_ORT_CACHE_BYTES, ORT_CACHE_ENV, ORT_CACHE_MAX_ENV, ortCacheDir, ortCacheLimit, pruneOrtCache } from '../../app/engine/model/ort-cache.js';
import { configureSessions, sessionTuning } from '../../app/engine/model/session.js';

// The optimised-graph cache as the studio, CLI and farm worker use it (docs/engine.md, "Session
// set-up"): EngineClient tells every worker it starts where the cache is; the second worker
// opens the graphs the first one optimised; the folder is pruned to a bound.

const MODEL = path.resolve('tests/fixtures/models/sd1-tiny');
const temps: string[] = [];
const clients: EngineClient[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-ort-cache-'));
  temps.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const dir of temps.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** name → [inode, mtime] of every file in the folder. */
function snapshot(dir: string): Map<string, [number, number]> {
  return new Map(fs.readdirSync(dir).map((n) => {
    const st = fs.statSync(path.join(dir, n));
    return [n, [st.ino, st.mtimeMs]] as [string, [number, number]];
  }));
}

/** A pid no process has now: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe.skipIf(process.env[ORT_CACHE_ENV] !== undefined)('optimised graphs cached across engine workers', () => {
  it('a second worker reuses the graphs the first one optimised, and gives the same image', async () => {
    const cache = path.join(tempDir(), 'cache', 'ort');
    const request = GenerationRequest.parse({ model: MODEL, prompt: 'a red fox', seed: 3, steps: 2, device: 'cpu' });
    const first = new EngineClient({ ortCacheDir: cache });
    clients.push(first);
    const a = await first.generate(request, {});
    await first.close();
    const written = snapshot(cache);
    const graphs = [...written.keys()].filter((n) => /^[0-9a-f]{32}\.onnx$/.test(n));
    // text encoder, UNet, VAE decoder (the encoder opens only for img2img)
    expect(graphs.length).toBeGreaterThanOrEqual(3);
    expect([...written.keys()].some((n) => n.includes('.tmp.'))).toBe(false);

    const second = new EngineClient({ ortCacheDir: cache });
    clients.push(second);
    const b = await second.generate(request, {});
    const after = snapshot(cache);
    expect([...after.keys()].sort()).toEqual([...written.keys()].sort());
    for (const [name, [ino, mtime]] of written) {
      expect(after.get(name)![0]).toBe(ino); // not rewritten
      // each graph was opened from the cache (its use recorded); weights were left as they were
      if (graphs.includes(name)) expect(after.get(name)![1]).toBeGreaterThan(mtime);
      else expect(after.get(name)![1]).toBe(mtime);
    }
    expect(Buffer.from(b.candidates[0]!.image.data).equals(Buffer.from(a.candidates[0]!.image.data))).toBe(true);
  }, 120_000);

  it('is under the Atelier home', () => {
    expect(ortCacheDir('/home/a/.local/share/atelier')).toBe(path.join('/home/a/.local/share/atelier', 'cache', 'ort'));
  });
});

describe('pruning the cache', () => {
  const key = (c: string) => c.repeat(32);
  function entry(dir: string, k: string, bytes: number, usedSecondsAgo: number, pid = 1234): void {
    const graph = path.join(dir, `${k}.onnx`);
    fs.writeFileSync(graph, Buffer.alloc(100));
    fs.writeFileSync(path.join(dir, `${k}.${pid}.data`), Buffer.alloc(bytes));
    const t = new Date(Date.now() - usedSecondsAgo * 1000);
    fs.utimesSync(graph, t, t);
    fs.utimesSync(path.join(dir, `${k}.${pid}.data`), t, t);
  }

  it('removes least recently used entries until the bound holds, and dead processes’ unfinished writes', () => {
    const dir = tempDir();
    entry(dir, key('a'), 4000, 300);
    entry(dir, key('b'), 4000, 10);
    entry(dir, key('c'), 4000, 100);
    const dead = deadPid();
    fs.writeFileSync(path.join(dir, `${key('d')}.${dead}.tmp.onnx`), 'x');
    fs.writeFileSync(path.join(dir, `${key('d')}.${dead}.data`), Buffer.alloc(50));
    // one being written now by a live process (this one) is kept
    fs.writeFileSync(path.join(dir, `${key('e')}.${process.pid}.tmp.onnx`), 'x');
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not ours');
    const r = pruneOrtCache(dir, 8500);
    expect(r).toEqual({ removed: 1, orphans: 2, bytes: 2 * 4100 + 1 });
    expect(fs.readdirSync(dir).sort()).toEqual([`${key('b')}.1234.data`, `${key('b')}.onnx`, `${key('c')}.1234.data`, `${key('c')}.onnx`, `${key('e')}.${process.pid}.tmp.onnx`, 'notes.txt']);
    expect(pruneOrtCache(dir, 0).removed).toBe(2);
    expect(pruneOrtCache(path.join(dir, 'missing'))).toEqual({ removed: 0, orphans: 0, bytes: 0 });
  });

  it('reads the bound from the environment, refusing nonsense', () => {
    expect(ortCacheLimit({})).toBe(DEFAULT_ORT_CACHE_BYTES);
    expect(ortCacheLimit({ [ORT_CACHE_MAX_ENV]: '1.5' })).toBe(1.5 * 2 ** 30);
    expect(() => ortCacheLimit({ [ORT_CACHE_MAX_ENV]: '-3' })).toThrow(/ATELIER_ORT_CACHE_MAX_GB=-3/);
  });

  it('the environment wins over the studio’s folder; an empty one turns the cache off', () => {
    const before = sessionTuning();
    try {
      const dir = tempDir();
      expect(configureEngine({ ortCacheDir: dir }, {}).ortCacheDir).toBe(dir);
      expect(sessionTuning().cacheDir).toBe(dir);
      configureSessions(before);
      expect(configureEngine({ ortCacheDir: dir }, { [ORT_CACHE_ENV]: '' })).toEqual({});
      expect(sessionTuning().cacheDir).toBe(before.cacheDir);
      const other = tempDir();
      expect(configureEngine({ ortCacheDir: dir }, { [ORT_CACHE_ENV]: other }).ortCacheDir).toBe(other);
    } finally {
      configureSessions(before);
    }
  });
});
