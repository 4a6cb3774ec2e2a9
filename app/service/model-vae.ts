import fs from 'node:fs';
import path from 'node:path';
import { ApiError } from '../contract/index.js';
import { runAssetTask } from './asset-tasks.js';
import { fileSha256 } from './model-loras.js';

// A VAE chosen per generation (GenerationRequest.vae, docs/models.md "VAE swap"): a path to a
// .safetensors VAE or a diffusers VAE folder, or the name of one in ATELIER_HOME/vae. The
// service resolves it; a worker thread builds its graphs once per file hash and the engine
// opens the model through an overlay folder with them (app/engine/checkpoint/vae-swap.ts).

export function vaesDir(home: string): string {
  return path.join(home, 'vae');
}

/** The VAE's weights file: the file itself, or a diffusers folder's (full-precision) .safetensors. */
function weightsFile(vae: string): string {
  if (!fs.statSync(vae).isDirectory()) return vae;
  const files = fs.readdirSync(vae).filter((f) => /\.safetensors$/i.test(f) && !/\.fp16\.safetensors$/i.test(f)).sort();
  if (files.length === 0) throw new ApiError('invalid_model', `the VAE folder ${vae} holds no .safetensors weights`, { vae });
  return path.join(vae, files[0]!);
}

/** The file or folder a request's `vae` names; `not_found` naming both places looked in. */
export function resolveVae(home: string, vae: string): string {
  const dir = vaesDir(home);
  if (path.isAbsolute(vae) || vae.includes('/') || vae.includes('\\')) {
    const abs = path.resolve(vae);
    if (fs.existsSync(abs)) return abs;
    throw new ApiError('not_found', `VAE ${abs} does not exist`, { vae });
  }
  for (const candidate of [path.join(dir, vae), path.join(dir, `${vae}.safetensors`)]) {
    if (vae !== '.' && vae !== '..' && fs.existsSync(candidate)) return candidate;
  }
  const relative = path.resolve(vae);
  if (fs.existsSync(relative)) return relative;
  throw new ApiError('not_found', `VAE "${vae}" not found: no ${vae} or ${vae}.safetensors in ${dir}`, { vae });
}

export interface PreparedVae {
  /** The overlay model folder with the VAE swapped in. */
  modelPath: string;
  /** A1111's `VAE` value: the file (or folder) name. */
  vaeName: string;
  /** A1111's `VAE hash`: the first 10 hex digits of the weights file's sha256. */
  vaeHash: string;
}

/** `modelPath` (a model folder, perhaps already LoRA-patched) running with the VAE the request names. */
export async function prepareVae(home: string, modelPath: string, vae: string): Promise<PreparedVae> {
  const file = resolveVae(home, vae);
  const sha256 = await fileSha256(weightsFile(file));
  const swapped = await runAssetTask({ kind: 'vae', base: modelPath, vae: file, sha256, cacheRoot: path.join(home, 'cache', 'vae') });
  return { modelPath: swapped.dir, vaeName: path.basename(file), vaeHash: sha256.slice(0, 10) };
}
