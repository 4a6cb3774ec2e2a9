import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationRequest } from '../../app/contract/index.js';
import { applyLoras } from '../../app/engine/checkpoint/index.js';
import { safetensorsWeights, writePipelineGraphs, type WeightSource } from '../../app/engine/graph/index.js';
import { loadModel, runPipeline, type LoadedModel, type RgbaImage } from '../../app/engine/index.js';

// SDXL LoRAs on a built SDXL folder (issue 14 item 3, docs/models.md): kohya's SDXL naming
// (lora_te1_ / lora_te2_, UNet modules by the original layout's paths) and PEFT's (as
// LCM-LoRA-SDXL ships: unet.<diffusers path>.lora_A/B, text_encoder_2.*) — linear layers, two
// 3×3 resnet convolutions as LoCon, add_embedding, both text encoders — at strength 0.8 give the
// image of the same updates merged by torch (tests/fixtures/checkpoint_fixtures.py,
// make_sdxl_lora_fixtures).

const GRAPH = path.resolve('tests/fixtures/graph');
const LORA = path.resolve('tests/fixtures/checkpoint/lora');
const SDXL = path.resolve('tests/fixtures/models/sdxl-tiny');
let tmp: string;
const loaded: LoadedModel[] = [];

function net(name: string, overlay?: WeightSource, prefix = '') {
  const w = safetensorsWeights(path.join(GRAPH, name, 'model.safetensors'));
  const weights: WeightSource = overlay
    ? { label: w.label, names: w.names, info: (n) => overlay.info(prefix + n) ?? w.info(n), read: (n) => (overlay.info(prefix + n) ? overlay.read(prefix + n) : w.read(n)) }
    : w;
  return { config: JSON.parse(fs.readFileSync(path.join(GRAPH, name, 'config.json'), 'utf8')) as Record<string, unknown>, weights };
}

/** The SDXL graph fixtures as a built SDXL folder (optionally with `overlay`'s unet./text_encoder./text_encoder_2. weights in place). */
function folder(name: string, overlay?: WeightSource): string {
  const dir = path.join(tmp, name);
  const vae = net('vae');
  writePipelineGraphs(dir, {
    textEncoder: net('clip', overlay, 'text_encoder.'),
    textEncoder2: net('clip-bigg', overlay, 'text_encoder_2.'),
    unet: net('unet-sdxl', overlay, 'unet.'),
    vae: { ...vae, config: { ...vae.config, scaling_factor: 0.13025, force_upcast: true } },
  });
  for (const sub of ['tokenizer', 'tokenizer_2', 'scheduler']) fs.cpSync(path.join(SDXL, sub), path.join(dir, sub), { recursive: true });
  fs.writeFileSync(path.join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'ORTStableDiffusionXLPipeline', force_zeros_for_empty_prompt: true }));
  return dir;
}

async function generate(dir: string): Promise<RgbaImage> {
  const m = await loadModel(dir, { device: 'cpu' });
  loaded.push(m);
  const request = GenerationRequest.parse({ model: dir, prompt: 'a red house on a hill', negativePrompt: 'blurry', seed: 5, steps: 2, width: 64, height: 64 });
  return (await runPipeline(m, request, {})).candidates[0]!.image;
}

function diff(a: RgbaImage, b: RgbaImage): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i]! - b.data[i]!);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.data.length };
}

const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-sdxl-lora-'));
});
afterAll(async () => {
  for (const m of loaded) await m.release();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('SDXL LoRA', () => {
  it('kohya (lora_te1_/lora_te2_, original-layout UNet names) and PEFT SDXL LoRAs give the torch-merged weights\' image', async () => {
    const base = folder('base');
    const cache = path.join(tmp, 'cache');
    const before = Object.fromEntries(['unet', 'text_encoder', 'text_encoder_2'].map((p) => [p, sha(path.join(base, p, 'model.onnx_data'))]));
    const kohya = await applyLoras(base, [{ file: path.join(LORA, 'sdxl-kohya.safetensors'), weight: 0.8 }], cache);
    // every one of the ten modules matched: seven in the UNet, one in CLIP-L, two in OpenCLIP-bigG
    expect(kohya).toMatchObject({ cached: false, unmatched: {}, patchedWeights: 10 });
    const peft = await applyLoras(base, [{ file: path.join(LORA, 'sdxl-peft.safetensors'), weight: 0.8 }], cache);
    expect(peft).toMatchObject({ unmatched: {}, patchedWeights: 10 });
    for (const [p, h] of Object.entries(before)) expect(sha(path.join(base, p, 'model.onnx_data')), p).toBe(h);
    // text_encoder_2 is patched, not linked
    expect(sha(path.join(kohya.dir, 'text_encoder_2', 'model.onnx_data'))).not.toBe(before.text_encoder_2);

    const merged = folder('merged', safetensorsWeights(path.join(LORA, 'sdxl-merged.safetensors')));
    const [plain, withKohya, withPeft, reference] = [await generate(base), await generate(kohya.dir), await generate(peft.dir), await generate(merged)];
    expect(diff(plain, reference).mean).toBeGreaterThan(1); // the LoRA changes the image
    const d = diff(withKohya, reference);
    expect(d.max).toBeLessThanOrEqual(1);
    expect(d.mean).toBeLessThan(0.01);
    const p = diff(withPeft, reference);
    expect(p.max).toBeLessThanOrEqual(1);
    expect(p.mean).toBeLessThan(0.01);
  });

  it('an SD 1.x LoRA does not fit an SDXL model: refused by name, nothing written', async () => {
    const base = folder('base-sd1-lora');
    const cache = path.join(tmp, 'cache-sd1');
    await expect(applyLoras(base, [{ file: path.join(LORA, 'lora-kohya.safetensors'), weight: 1 }], cache)).rejects.toThrow(/lora-kohya\.safetensors does not fit this model/);
    expect(fs.existsSync(cache) ? fs.readdirSync(cache) : []).toEqual([]);
  });
});
