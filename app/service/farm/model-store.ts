import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { z } from 'zod';
import { ApiError } from '../../contract/index.js';
import { hashModelFiles, listModelFiles } from '../../library/model-hash.js';
import { fileSha256, manifestHash } from './model-server.js';
import type { ModelRef, ModelSource } from './protocol.js';

// A worker's models, by content hash (docs/farm.md, "Models"): folders it was started with
// (`--model DIR`, hashed at start), and models fetched from studios into its store
// (<store>/<hash>/). A fetch downloads into <store>/.partial-<hash>/, resumes a file where an
// earlier try stopped (HTTP Range), checks every file's SHA-256 and the model's hash against
// the one the job names, and only then renames the folder into place: a model in the store is
// whole and is the one asked for.

const Manifest = z
  .object({
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    files: z
      .array(
        z
          .object({
            // Relative, '/'-separated, no '.', '..' or empty parts, no hidden names (the hash skips those).
            path: z.string().max(1024).regex(/^(?!.*(^|\/)\.)[^\\/\0]+(\/[^\\/\0]+)*$/),
            size: z.number().int().min(0).max(256 * 1024 ** 3),
            sha256: z.string().regex(/^[0-9a-f]{64}$/),
          })
          .strict(),
      )
      .min(1)
      .max(10_000),
  })
  .strict();

export class ModelStore {
  private readonly byHash = new Map<string, string>();
  private readonly fetching = new Map<string, Promise<string>>();

  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    // Only complete fetches carry a bare hash as their name (see fetchModel's rename).
    for (const name of fs.readdirSync(dir)) if (/^[0-9a-f]{64}$/.test(name)) this.byHash.set(name, path.join(dir, name));
  }

  /** Adds a local model folder under its content hash; returns the hash. */
  addFolder(folder: string): string {
    const hash = hashModelFiles(listModelFiles(folder));
    this.byHash.set(hash, path.resolve(folder));
    return hash;
  }

  hashes(): string[] {
    return [...this.byHash.keys()].sort();
  }

  /** The folder of a model, fetched from the job's studio when this worker lacks it. */
  async resolve(model: ModelRef, source: ModelSource | null, signal?: AbortSignal): Promise<string> {
    const held = this.byHash.get(model.hash);
    if (held) return held;
    if (!source) throw new ApiError('invalid_model', `This worker does not hold the model "${model.name}" (${model.hash.slice(0, 12)}…) and its studio serves no models`);
    let fetching = this.fetching.get(model.hash);
    if (!fetching) {
      fetching = this.fetchModel(model, source, signal).finally(() => this.fetching.delete(model.hash));
      this.fetching.set(model.hash, fetching);
    }
    return fetching;
  }

  private async fetchModel(model: ModelRef, source: ModelSource, signal?: AbortSignal): Promise<string> {
    const base = `${source.url.replace(/\/$/, '')}/farm/models/${model.hash}`;
    const headers = { authorization: `Bearer ${source.token}` };
    const res = await fetch(`${base}/manifest`, { headers, signal });
    if (!res.ok) throw new ApiError('invalid_model', `The studio would not send the model "${model.name}": HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
    const parsed = Manifest.safeParse(await res.json());
    if (!parsed.success) throw new ApiError('invalid_model', `The studio's manifest for "${model.name}" is malformed`);
    const manifest = parsed.data;
    if (manifest.hash !== model.hash || manifestHash(manifest.files) !== model.hash) throw new ApiError('invalid_model', `The studio's manifest for "${model.name}" is not the model the job names`);
    const partial = path.join(this.dir, `.partial-${model.hash}`);
    for (const [index, file] of manifest.files.entries()) {
      const target = path.join(partial, ...file.path.split('/'));
      if (!target.startsWith(partial + path.sep)) throw new ApiError('invalid_model', `The manifest names a file outside the model: ${file.path}`);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      await this.fetchFile(`${base}/files/${index}`, headers, target, file, signal);
    }
    const final = path.join(this.dir, model.hash);
    fs.rmSync(final, { recursive: true, force: true });
    fs.renameSync(partial, final);
    this.byHash.set(model.hash, final);
    return final;
  }

  /** One file: resumed from what an earlier try left, then checked; a file that does not check out is fetched once more from the start. */
  private async fetchFile(url: string, headers: Record<string, string>, target: string, file: { size: number; sha256: string; path: string }, signal?: AbortSignal): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const have = fs.existsSync(target) ? fs.statSync(target).size : 0;
      if (have > file.size) fs.rmSync(target);
      else if (have < file.size) {
        const res = await fetch(url, { headers: have > 0 ? { ...headers, range: `bytes=${have}-` } : headers, signal });
        if (!res.ok || !res.body) throw new ApiError('invalid_model', `Fetching ${file.path} failed: HTTP ${res.status}`);
        // A server that ignores the range sends the whole file: start over then.
        const append = res.status === 206 && have > 0;
        await pipeline(Readable.fromWeb(res.body as WebReadableStream), fs.createWriteStream(target, { flags: append ? 'a' : 'w' }));
      }
      if (fs.statSync(target).size === file.size && (await fileSha256(target)) === file.sha256) return;
      fs.rmSync(target, { force: true });
    }
    throw new ApiError('invalid_model', `${file.path} does not match its SHA-256 after two tries`);
  }
}
