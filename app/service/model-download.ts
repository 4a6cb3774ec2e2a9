import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ApiError, type ModelEntry } from '../contract/index.js';
import type { ImportProgress } from '../engine/checkpoint/index.js';
import { importModel, modelsDir, type ModelImportRequest } from './model-import.js';
import { ModelRegistry } from './models-registry.js';

// Models from the Hugging Face Hub (docs/models.md): a repo id ("owner/name") or a file URL.
// ONNX repos in the diffusers/Optimum layout are downloaded as they are; single-file
// checkpoints and diffusers repos of .safetensors are downloaded, then imported. Every file is
// written to a .part file and resumed with an HTTP Range request, verified against the Hub's
// sha256 for LFS files, and a token (HF_TOKEN) is sent for gated repos — only to the Hub's own
// host (fetch drops it on redirects to other origins, as to the LFS CDN).

export const HUB = 'https://huggingface.co';

export interface DownloadProgress {
  file: string;
  done: number;
  total?: number;
}

export interface ModelDownloadRequest extends Omit<ModelImportRequest, 'source' | 'onProgress'> {
  /** "owner/name" or an https URL to a .safetensors file. */
  ref: string;
  revision?: string;
  /** Default: HF_TOKEN. */
  token?: string;
  /** Default: https://huggingface.co (tests: a local stand-in). */
  endpoint?: string;
  onProgress?: (p: DownloadProgress) => void;
  /** The import's progress, for checkpoints and diffusers repos (imported once downloaded). */
  onImportProgress?: (p: ImportProgress) => void;
}

interface Sibling {
  rfilename: string;
  size?: number;
  lfs?: { sha256?: string; size?: number };
}

const ONNX_FILES = /^(model_index\.json|[\w-]+\/(config\.json|model\.onnx|model\.onnx_data|weights\.pb|scheduler_config\.json|vocab\.json|merges\.txt|special_tokens_map\.json|tokenizer_config\.json|added_tokens\.json|preview\.json))$/;
const DIFFUSERS_FILES = /^(model_index\.json|(unet|vae|text_encoder)\/(config\.json|[\w.-]+\.safetensors)|scheduler\/scheduler_config\.json|tokenizer\/(vocab\.json|merges\.txt|special_tokens_map\.json|tokenizer_config\.json))$/;

function offline(endpoint: string, error: unknown): ApiError {
  const cause = error instanceof Error ? ((error as { cause?: { code?: string; message?: string } }).cause?.code ?? error.message) : String(error);
  return new ApiError('bad_request', `cannot reach ${new URL(endpoint).host} (offline? ${cause})`, { offline: true });
}

async function hubFetch(url: string, endpoint: string, token: string | undefined, headers: Record<string, string> = {}): Promise<Response> {
  const sameHost = new URL(url).origin === new URL(endpoint).origin;
  let res: Response;
  try {
    res = await fetch(url, { headers: { ...headers, ...(token && sameHost ? { authorization: `Bearer ${token}` } : {}) }, redirect: 'follow' });
  } catch (error) {
    throw offline(endpoint, error);
  }
  if (res.status === 401 || res.status === 403) {
    throw new ApiError('unauthorized', `${url}: the Hub refused access (${res.status}); a gated or private repo needs a token: set HF_TOKEN${token ? ' (the one given was refused)' : ''}`);
  }
  if (res.status === 404) throw new ApiError('not_found', `${url} was not found on the Hub`);
  if (!res.ok && res.status !== 206) throw new ApiError('bad_request', `${url}: the Hub answered ${res.status} ${res.statusText}`);
  return res;
}

/** One file to `dest`, resumed from `dest.part`, checked against `sha256` when known. */
export async function downloadFile(url: string, dest: string, opts: { endpoint: string; token?: string; sha256?: string; size?: number; onProgress?: (p: DownloadProgress) => void }): Promise<void> {
  const part = `${dest}.part`;
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  let have = fs.existsSync(part) ? fs.statSync(part).size : 0;
  if (opts.size !== undefined && have > opts.size) {
    fs.rmSync(part);
    have = 0;
  }
  if (opts.size === undefined || have < opts.size) {
    const res = await hubFetch(url, opts.endpoint, opts.token, have > 0 ? { range: `bytes=${have}-` } : {});
    // A server that ignores the Range sends the whole file again: start over.
    if (have > 0 && res.status !== 206) have = 0;
    const total = res.headers.get('content-length') !== null ? have + Number(res.headers.get('content-length')) : opts.size;
    const out = fs.createWriteStream(part, { flags: have > 0 ? 'a' : 'w' });
    let done = have;
    try {
      if (!res.body) throw new ApiError('bad_request', `${url}: empty answer`);
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        // Counted once written to the file, so that progress says what a cancel (the thread
        // stopped) keeps for the resume, not bytes still in the stream's buffer.
        await new Promise<void>((resolve, reject) => out.write(chunk, (error) => (error ? reject(error) : resolve())));
        done += chunk.byteLength;
        opts.onProgress?.({ file: path.basename(dest), done, ...(total !== undefined ? { total } : {}) });
      }
    } catch (error) {
      await new Promise<void>((r) => out.end(() => r()));
      if (error instanceof ApiError) throw error;
      throw new ApiError('bad_request', `${url}: the download stopped at ${done} bytes (${error instanceof Error ? error.message : String(error)}); run it again to resume`, { resumable: true });
    }
    await new Promise<void>((r) => out.end(() => r()));
  }
  const size = fs.statSync(part).size;
  if (opts.size !== undefined && size !== opts.size) throw new ApiError('bad_request', `${url}: got ${size} bytes, the Hub lists ${opts.size}; run it again to resume`, { resumable: true });
  if (opts.sha256) {
    const hash = crypto.createHash('sha256');
    for await (const chunk of fs.createReadStream(part)) hash.update(chunk as Buffer);
    const got = hash.digest('hex');
    if (got !== opts.sha256) {
      fs.rmSync(part, { force: true });
      throw new ApiError('invalid_file', `${path.basename(dest)}: sha256 ${got} is not the Hub's ${opts.sha256}; the download was discarded`);
    }
  }
  fs.renameSync(part, dest);
}

function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/');
}

/** A repo's files with sizes and LFS hashes (the Hub's model info with blobs). */
async function repoFiles(repo: string, revision: string, endpoint: string, token?: string): Promise<Sibling[]> {
  const res = await hubFetch(`${endpoint}/api/models/${encodePath(repo)}/revision/${encodeURIComponent(revision)}?blobs=true`, endpoint, token).catch((error: unknown) => {
    // The API address means nothing to an artist: name the repo and the revision instead.
    if (error instanceof ApiError && error.code === 'not_found') throw new ApiError('not_found', `${repo} (revision ${revision}) was not found on ${new URL(endpoint).host}: check the repo id`);
    throw error;
  });
  const info = (await res.json()) as { siblings?: Sibling[] };
  if (!Array.isArray(info.siblings)) throw new ApiError('bad_request', `${repo}: the Hub's answer lists no files`);
  return info.siblings;
}

export async function downloadModel(req: ModelDownloadRequest): Promise<{ entry: ModelEntry; path: string; kind: 'onnx' | 'imported' }> {
  const endpoint = (req.endpoint ?? HUB).replace(/\/$/, '');
  const token = req.token ?? process.env.HF_TOKEN;
  const revision = req.revision ?? 'main';
  const downloads = path.join(req.home, 'downloads');
  const { ref, onProgress, onImportProgress, ...rest } = req;
  const importReq: Omit<ModelImportRequest, 'source'> = { ...rest, ...(onImportProgress ? { onProgress: onImportProgress } : {}) };
  const fileOpts = (s?: Sibling) => ({ endpoint, ...(token ? { token } : {}), ...(s?.lfs?.sha256 ? { sha256: s.lfs.sha256 } : {}), ...((s?.lfs?.size ?? s?.size) !== undefined ? { size: s?.lfs?.size ?? s?.size } : {}), ...(onProgress ? { onProgress } : {}) });

  if (/^https?:\/\//.test(ref)) {
    const url = new URL(ref);
    const name = decodeURIComponent(url.pathname.split('/').at(-1) ?? '');
    if (!/\.safetensors$/i.test(name)) throw new ApiError('bad_request', `${ref}: only .safetensors files are downloaded (pickles can run code)`);
    const dest = path.join(downloads, name);
    if (!fs.existsSync(dest)) await downloadFile(ref, dest, fileOpts());
    const { entry, imported } = await importModel({ ...importReq, source: dest });
    return { entry, path: imported.path, kind: 'imported' };
  }
  if (!/^[\w.-]+\/[\w.-]+$/.test(ref)) throw new ApiError('bad_request', `"${ref}" is neither a Hub repo id (owner/name) nor an https URL`);
  const siblings = await repoFiles(ref, revision, endpoint, token);
  const names = new Set(siblings.map((s) => s.rfilename));
  const resolve = (file: string) => `${endpoint}/${encodePath(ref)}/resolve/${encodeURIComponent(revision)}/${encodePath(file)}`;
  const name = req.name ?? ref.split('/')[1]!;
  if (names.has('unet/model.onnx')) {
    const target = path.join(modelsDir(req.home), name);
    if (fs.existsSync(target)) throw new ApiError('conflict', `a model named "${name}" already exists in ${modelsDir(req.home)}`, { path: target });
    // Downloaded into a stable folder (so a retry resumes), renamed into the models folder when complete.
    const staging = path.join(downloads, `${ref.replace('/', '--')}@${revision}`);
    for (const s of siblings.filter((x) => ONNX_FILES.test(x.rfilename))) {
      const dest = path.join(staging, s.rfilename);
      if (!fs.existsSync(dest)) await downloadFile(resolve(s.rfilename), dest, fileOpts(s));
    }
    const registry = new ModelRegistry({ home: req.home, inspect: async (dir) => (await import('../engine/index.js')).inspectModel(dir) });
    await registry.inspectFresh(staging); // an unusable folder stays in downloads, named in the error
    fs.mkdirSync(modelsDir(req.home), { recursive: true });
    fs.renameSync(staging, target);
    const entry = await registry.add(target, name);
    return { entry, path: target, kind: 'onnx' };
  }
  const staging = path.join(downloads, `${ref.replace('/', '--')}@${revision}`);
  if (names.has('unet/config.json')) {
    for (const s of siblings.filter((x) => DIFFUSERS_FILES.test(x.rfilename) && !/\.fp16\.safetensors$/.test(x.rfilename))) {
      const dest = path.join(staging, s.rfilename);
      if (!fs.existsSync(dest)) await downloadFile(resolve(s.rfilename), dest, fileOpts(s));
    }
    const { entry, imported } = await importModel({ ...importReq, name, source: staging });
    return { entry, path: imported.path, kind: 'imported' };
  }
  const single = siblings.filter((s) => /^[^/]+\.safetensors$/i.test(s.rfilename));
  if (single.length !== 1) {
    throw new ApiError('bad_request', `${ref} is neither an ONNX model repo (unet/model.onnx), a diffusers repo nor a repo with one .safetensors checkpoint (${single.length} found: give the file's URL)`);
  }
  const dest = path.join(staging, single[0]!.rfilename);
  if (!fs.existsSync(dest)) await downloadFile(resolve(single[0]!.rfilename), dest, fileOpts(single[0]));
  const { entry, imported } = await importModel({ ...importReq, name, source: dest });
  return { entry, path: imported.path, kind: 'imported' };
}
