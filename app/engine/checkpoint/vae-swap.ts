import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { buildVaeDecoder, buildVaeEncoder, vaeConfigFromWeights, writeModel, type FloatType, type WeightIndex } from '../graph/index.js';
import { InvalidModelError } from '../model/errors.js';
import { readVaeSource } from './vae-source.js';

// A VAE chosen per generation (docs/models.md, "VAE swap"). Its encoder and decoder graphs
// are built once per VAE file (by its sha256) and storage type under CACHE/graphs/KEY/; a
// model then runs with them through an overlay folder (CACHE/models/KEY/) whose vae_encoder/
// and vae_decoder/ link to those graphs and every other part links to the model's own. The
// model folder is never changed, and the engine opens the overlay like any model folder.
// A standalone VAE file says nothing of its config: group norms, latent scale and SDXL's
// force_upcast are the model's own VAE's.

const PARTS = ['vae_encoder', 'vae_decoder'] as const;
const COMPLETE = '.complete';

export interface VaeSwapOptions {
  /** The VAE's sha256 (of its weights file; the cache key and A1111's "VAE hash"). */
  sha256: string;
  /** ATELIER_HOME/cache/vae. */
  cacheRoot: string;
}

export interface SwappedVae {
  /** The overlay model folder the engine opens. */
  dir: string;
  /** The built graphs came from the cache. */
  cached: boolean;
}

/** Links a part (a copy where links are refused), as lora-apply.ts does. */
function link(from: string, to: string): void {
  try {
    fs.symlinkSync(from, to, fs.statSync(from).isDirectory() ? 'junction' : 'file');
  } catch {
    fs.cpSync(from, to, { recursive: true });
  }
}

/**
 * Moves a finished folder into place. Another process (a second studio or farm worker on the
 * same home) may have finished the same key first: then its folder is used and ours dropped.
 */
function publish(tmp: string, dir: string): void {
  try {
    fs.renameSync(tmp, dir);
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!fs.existsSync(path.join(dir, COMPLETE))) throw error;
  }
}

function readJson(file: string): Record<string, unknown> | undefined {
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>) : undefined;
}

/**
 * What the model's own VAE says the swapped one must match: its storage type (float16 for
 * imported models unless --fp32; float32 for folders Atelier did not build), its group
 * norms and latent scale (a standalone VAE file carries neither).
 */
function modelVaeTraits(base: string): { storage: FloatType; normNumGroups?: number; scalingFactor?: number; forceUpcast?: boolean } {
  const index = readJson(path.join(base, 'vae_decoder', 'model.onnx.weights.json')) as WeightIndex | undefined;
  const config = readJson(path.join(base, 'vae_decoder', 'config.json'));
  const groups = typeof config?.norm_num_groups === 'number' ? config.norm_num_groups : undefined;
  const scale = typeof config?.scaling_factor === 'number' ? config.scaling_factor : undefined;
  // SDXL's VAE overflows in float16: a standalone file keeps the model's force_upcast (docs/engine.md, "SDXL").
  const upcast = typeof config?.force_upcast === 'boolean' ? config.force_upcast : undefined;
  return { storage: index?.storage ?? 'float32', ...(groups ? { normNumGroups: groups } : {}), ...(scale ? { scalingFactor: scale } : {}), ...(upcast !== undefined ? { forceUpcast: upcast } : {}) };
}

/** Builds (or finds) the VAE's graphs for this model's traits; resolves to their folder. */
function vaeGraphs(vaePath: string, base: string, opts: VaeSwapOptions): { dir: string; cached: boolean } {
  const traits = modelVaeTraits(base);
  const key = crypto.createHash('sha256').update(JSON.stringify([opts.sha256, traits])).digest('hex').slice(0, 24);
  const dir = path.join(opts.cacheRoot, 'graphs', key);
  if (fs.existsSync(path.join(dir, COMPLETE))) return { dir, cached: true };
  // Read (and refused when not a VAE) before anything is written.
  const source = readVaeSource(vaePath);
  const config = source.config ?? {
    ...vaeConfigFromWeights(source.weights, { ...(traits.normNumGroups ? { normNumGroups: traits.normNumGroups } : {}), ...(traits.scalingFactor ? { scalingFactor: traits.scalingFactor } : {}) }),
    ...(traits.forceUpcast !== undefined ? { force_upcast: traits.forceUpcast } : {}),
  };
  const fp = { dtype: traits.storage, compute: 'float32' as const };
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  // A folder without .complete was left by a crash: nothing uses it.
  fs.rmSync(dir, { recursive: true, force: true });
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  try {
    for (const part of PARTS) {
      fs.mkdirSync(path.join(tmp, part));
      fs.writeFileSync(path.join(tmp, part, 'config.json'), JSON.stringify(config, null, 2));
      writeModel(path.join(tmp, part), part === 'vae_encoder' ? buildVaeEncoder(config, source.weights, fp) : buildVaeDecoder(config, source.weights, fp));
    }
    fs.writeFileSync(path.join(tmp, COMPLETE), JSON.stringify({ vae: source.file, sha256: opts.sha256, ...traits }));
    publish(tmp, dir);
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  return { dir, cached: false };
}

/**
 * The model folder `base` with the VAE at `vaePath` (a .safetensors file or a diffusers VAE
 * folder, as `readVaeSource` reads) in place of its own.
 */
export function swapVae(base: string, vaePath: string, opts: VaeSwapOptions): SwappedVae {
  const abs = path.resolve(base);
  if (!fs.existsSync(path.join(abs, 'vae_decoder', 'model.onnx'))) throw new InvalidModelError('vae_decoder/model.onnx', `${path.basename(abs)} has no vae_decoder/model.onnx whose VAE could be swapped`);
  const graphs = vaeGraphs(vaePath, abs, opts);
  const key = crypto.createHash('sha256').update(`${fs.realpathSync(abs)}|${graphs.dir}`).digest('hex').slice(0, 24);
  const dir = path.join(opts.cacheRoot, 'models', key);
  if (fs.existsSync(path.join(dir, COMPLETE))) return { dir, cached: graphs.cached };
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  fs.rmSync(dir, { recursive: true, force: true });
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  try {
    for (const entry of fs.readdirSync(abs)) {
      if ((PARTS as readonly string[]).includes(entry) || entry === COMPLETE) continue;
      link(path.join(abs, entry), path.join(tmp, entry));
    }
    for (const part of PARTS) link(path.join(graphs.dir, part), path.join(tmp, part));
    fs.writeFileSync(path.join(tmp, COMPLETE), JSON.stringify({ base: abs, vae: vaePath, sha256: opts.sha256 }));
    publish(tmp, dir);
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  return { dir, cached: graphs.cached };
}
