import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { swapVae } from '../../app/engine/checkpoint/vae-swap.js';
import { tempHome } from '../helpers/home.js';

// swapVae (app/engine/checkpoint/vae-swap.ts) on its own: a standalone VAE file takes its
// config from the model's own VAE (group norms, latent scale, SDXL's force_upcast), every
// other part of the model is linked, not copied, and the model folder is left as it was.

const { home, cleanup } = tempHome('atelier-engine-vae-swap-');
afterAll(cleanup);
const VAE = path.resolve('tests/fixtures/checkpoint/vae-alt.safetensors');

function model(config: Record<string, unknown>): string {
  const base = path.join(home, `model-${Math.random().toString(36).slice(2)}`);
  for (const part of ['vae_decoder', 'vae_encoder', 'unet', 'text_encoder']) {
    fs.mkdirSync(path.join(base, part), { recursive: true });
    fs.writeFileSync(path.join(base, part, 'model.onnx'), part);
  }
  fs.writeFileSync(path.join(base, 'vae_decoder', 'config.json'), JSON.stringify(config));
  fs.writeFileSync(path.join(base, 'model_index.json'), '{}');
  return base;
}

const readConfig = (dir: string, part: string) => JSON.parse(fs.readFileSync(path.join(dir, part, 'config.json'), 'utf8')) as Record<string, unknown>;

describe('swapVae', () => {
  it("gives a standalone VAE the model's norms, scale and force_upcast; links the rest; leaves the model alone", () => {
    const xl = model({ norm_num_groups: 4, scaling_factor: 0.13025, force_upcast: true });
    const before = fs.readdirSync(xl).sort();
    const swapped = swapVae(xl, VAE, { sha256: 'a'.repeat(64), cacheRoot: path.join(home, 'cache') });
    expect(swapped.cached).toBe(false);
    for (const part of ['vae_encoder', 'vae_decoder']) {
      expect(readConfig(swapped.dir, part)).toMatchObject({ norm_num_groups: 4, scaling_factor: 0.13025, force_upcast: true });
      expect(fs.existsSync(path.join(swapped.dir, part, 'model.onnx_data'))).toBe(true);
    }
    expect(fs.realpathSync(path.join(swapped.dir, 'unet'))).toBe(fs.realpathSync(path.join(xl, 'unet')));
    expect(fs.readFileSync(path.join(xl, 'vae_decoder', 'model.onnx'), 'utf8')).toBe('vae_decoder');
    expect(fs.readdirSync(xl).sort()).toEqual(before);

    // Another model with other traits gets graphs of its own; the same one reuses them.
    const sd = model({ norm_num_groups: 4, scaling_factor: 0.18215 });
    const other = swapVae(sd, VAE, { sha256: 'a'.repeat(64), cacheRoot: path.join(home, 'cache') });
    expect(readConfig(other.dir, 'vae_decoder')).toMatchObject({ scaling_factor: 0.18215 });
    expect(readConfig(other.dir, 'vae_decoder').force_upcast).toBeUndefined();
    expect(swapVae(xl, VAE, { sha256: 'a'.repeat(64), cacheRoot: path.join(home, 'cache') })).toEqual({ dir: swapped.dir, cached: true });
  });

  it('refuses a model without a VAE decoder and a file that is not a VAE, writing nothing', () => {
    const cacheRoot = path.join(home, 'cache-refused');
    const empty = path.join(home, 'empty');
    fs.mkdirSync(empty);
    expect(() => swapVae(empty, VAE, { sha256: 'b'.repeat(64), cacheRoot })).toThrow(/empty has no vae_decoder\/model\.onnx/);
    expect(() => swapVae(model({}), path.resolve('tests/fixtures/checkpoint/lora/lora-kohya.safetensors'), { sha256: 'c'.repeat(64), cacheRoot })).toThrow(/lora-kohya\.safetensors is not a VAE/);
    expect(fs.existsSync(cacheRoot) ? fs.readdirSync(path.join(cacheRoot, 'graphs')) : []).toEqual([]);
  });
});
