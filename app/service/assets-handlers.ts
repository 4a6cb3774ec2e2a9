import fs from 'node:fs';
import path from 'node:path';
import type { AssetFile, assetsMethods } from '../contract/index.js';
import type { AreaHandlers } from './context.js';
import { embeddingsDir, lorasDir } from './model-loras.js';
import { vaesDir } from './model-vae.js';

// `assets.list`: the LoRAs, embeddings and VAEs a prompt can name (docs/models.md), read from
// their ATELIER_HOME folders on every call, so a file dropped there shows up without a restart.

const SAFETENSORS = /\.safetensors$/i;

/** The `.safetensors` files of a folder (none when it does not exist yet). */
function files(dir: string): AssetFile[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && SAFETENSORS.test(e.name) && !e.name.startsWith('.'))
    .map((e) => {
      const file = path.join(dir, e.name);
      return { name: e.name.replace(SAFETENSORS, ''), path: file, bytes: fs.statSync(file).size };
    });
}

/** VAE files, and diffusers VAE folders (a config.json beside .safetensors weights). */
function vaes(dir: string): AssetFile[] {
  if (!fs.existsSync(dir)) return [];
  const folders = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .flatMap((e) => {
      const folder = path.join(dir, e.name);
      const weights = fs.readdirSync(folder).filter((f) => SAFETENSORS.test(f));
      if (weights.length === 0 || !fs.existsSync(path.join(folder, 'config.json'))) return [];
      return [{ name: e.name, path: folder, bytes: weights.reduce((n, f) => n + fs.statSync(path.join(folder, f)).size, 0) }];
    });
  return [...files(dir), ...folders];
}

const byName = (a: AssetFile, b: AssetFile) => a.name.localeCompare(b.name, undefined, { sensitivity: 'base' });

export function assetsHandlers(home: string): AreaHandlers<typeof assetsMethods> {
  return {
    'assets.list': () => ({
      loras: files(lorasDir(home)).sort(byName),
      embeddings: files(embeddingsDir(home)).sort(byName),
      vaes: vaes(vaesDir(home)).sort(byName),
      folders: { loras: lorasDir(home), embeddings: embeddingsDir(home), vaes: vaesDir(home) },
    }),
  };
}
