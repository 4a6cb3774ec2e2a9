import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assetsHandlers } from '../../app/service/assets-handlers.js';
import { StudioService } from '../../app/service/index.js';
import { tempHome } from '../helpers/home.js';

// `assets.list` (app/contract/assets.ts): what the prompt panel offers — LoRAs, embeddings and
// VAEs from their ATELIER_HOME folders, read on each call.

const { home, cleanup } = tempHome('atelier-assets-');
const service = new StudioService({ transport: 'cli', home });
service.register(assetsHandlers(home));
afterAll(async () => {
  await service.close();
  cleanup();
});

function put(rel: string, bytes = 4): void {
  fs.mkdirSync(path.dirname(path.join(home, rel)), { recursive: true });
  fs.writeFileSync(path.join(home, rel), Buffer.alloc(bytes));
}

describe('assets.list', () => {
  it('is empty, with the folders to fill, before anything is there', async () => {
    const list = await service.call('assets.list', {});
    expect(list).toEqual({ loras: [], embeddings: [], vaes: [], folders: { loras: path.join(home, 'loras'), embeddings: path.join(home, 'embeddings'), vaes: path.join(home, 'vae') } });
  });

  it('lists .safetensors files by name (sorted, any case), diffusers VAE folders, and nothing else', async () => {
    put('loras/style.safetensors', 10);
    put('loras/Anime Lines.SAFETENSORS');
    put('loras/pickle.ckpt');
    put('loras/.hidden.safetensors');
    put('embeddings/badhands.safetensors');
    put('vae/kl-f8.safetensors', 7);
    put('vae/sdxl-vae/config.json');
    put('vae/sdxl-vae/diffusion_pytorch_model.safetensors', 9);
    put('vae/not-a-vae/readme.txt');
    const list = await service.call('assets.list', {});
    expect(list.loras.map((l) => l.name)).toEqual(['Anime Lines', 'style']);
    expect(list.loras[1]).toEqual({ name: 'style', path: path.join(home, 'loras', 'style.safetensors'), bytes: 10 });
    expect(list.embeddings.map((e) => e.name)).toEqual(['badhands']);
    expect(list.vaes).toEqual([
      { name: 'kl-f8', path: path.join(home, 'vae', 'kl-f8.safetensors'), bytes: 7 },
      { name: 'sdxl-vae', path: path.join(home, 'vae', 'sdxl-vae'), bytes: 9 },
    ]);
  });
});
