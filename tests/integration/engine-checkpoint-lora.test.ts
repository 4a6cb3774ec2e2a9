import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationRequest } from '../../app/contract/index.js';
import { applyLoras, LoraError } from '../../app/engine/checkpoint/index.js';
import { safetensorsWeights, writePipelineGraphs, type WeightSource } from '../../app/engine/graph/index.js';
import { loadModel, runPipeline, type LoadedModel, type RgbaImage } from '../../app/engine/index.js';

// LoRAs patch a built model folder's weights (docs/models.md): the kohya and PEFT fixtures
// (tests/fixtures/checkpoint_fixtures.py) at strength 0.8 give the image of the same weights
// merged by torch, the base folder is left as it was, and the patched set is cached.

const GRAPH = path.resolve('tests/fixtures/graph');
const LORA = path.resolve('tests/fixtures/checkpoint/lora');
const MODELS = path.resolve('tests/fixtures/models');
let tmp: string;
let base: string;
const loaded: LoadedModel[] = [];

function net(name: string, overlay?: WeightSource, prefix = '') {
  const w = safetensorsWeights(path.join(GRAPH, name, 'model.safetensors'));
  const weights: WeightSource = overlay
    ? { label: w.label, names: w.names, info: (n) => overlay.info(prefix + n) ?? w.info(n), read: (n) => (overlay.info(prefix + n) ? overlay.read(prefix + n) : w.read(n)) }
    : w;
  return { config: JSON.parse(fs.readFileSync(path.join(GRAPH, name, 'config.json'), 'utf8')) as Record<string, unknown>, weights };
}

function folder(name: string, overlay?: WeightSource): string {
  const dir = path.join(tmp, name);
  writePipelineGraphs(dir, { textEncoder: net('clip', overlay, 'text_encoder.'), unet: net('unet-sd1', overlay, 'unet.'), vae: net('vae') });
  for (const sub of ['tokenizer', 'scheduler']) fs.cpSync(path.join(MODELS, 'sd1-tiny', sub), path.join(dir, sub), { recursive: true });
  fs.writeFileSync(path.join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'OnnxStableDiffusionPipeline' }));
  return dir;
}

async function generate(dir: string): Promise<RgbaImage> {
  const m = await loadModel(dir, { device: 'cpu' });
  loaded.push(m);
  const request = GenerationRequest.parse({ model: dir, prompt: 'a red house on a hill', negativePrompt: 'blurry', seed: 3, steps: 2 });
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

function sha(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** A LoRA file from float32 tensors. */
function loraFile(name: string, tensors: Record<string, number[]>): string {
  const header: Record<string, unknown> = {};
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [key, shape] of Object.entries(tensors)) {
    const data = Buffer.from(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.01).buffer);
    header[key] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.length] };
    chunks.push(data);
    offset += data.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const file = path.join(tmp, name);
  fs.writeFileSync(file, Buffer.concat([len, json, ...chunks]));
  return file;
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-lora-'));
  base = folder('base');
});
afterAll(async () => {
  for (const m of loaded) await m.release();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('LoRA', () => {
  it('kohya and PEFT LoRAs (linear, 1×1 and 3×3 LoCon, text encoder) give the torch-merged weights\' image; the base is untouched; the set is cached', async () => {
    const cache = path.join(tmp, 'cache');
    const before = sha(path.join(base, 'unet', 'model.onnx_data'));
    const kohya = await applyLoras(base, [{ file: path.join(LORA, 'lora-kohya.safetensors'), weight: 0.8 }], cache);
    expect(kohya).toMatchObject({ cached: false, unmatched: {}, patchedWeights: 7 });
    expect(sha(path.join(base, 'unet', 'model.onnx_data'))).toBe(before);
    const peft = await applyLoras(base, [{ file: path.join(LORA, 'lora-peft.safetensors'), weight: 0.8 }], cache);
    expect(peft.dir).not.toBe(kohya.dir);
    expect(await applyLoras(base, [{ file: path.join(LORA, 'lora-kohya.safetensors'), weight: 0.8 }], cache)).toMatchObject({ dir: kohya.dir, cached: true });
    expect((await applyLoras(base, [{ file: path.join(LORA, 'lora-kohya.safetensors'), weight: 0.5 }], cache)).dir).not.toBe(kohya.dir);

    const merged = folder('merged', safetensorsWeights(path.join(LORA, 'merged.safetensors')));
    const [plain, withKohya, withPeft, reference] = [await generate(base), await generate(kohya.dir), await generate(peft.dir), await generate(merged)];
    expect(diff(plain, reference).mean).toBeGreaterThan(1); // the LoRA changes the image
    // float32 sums in another order than torch's: measured identical images; 1 level allowed
    const d = diff(withKohya, reference);
    expect(d.max).toBeLessThanOrEqual(1);
    expect(d.mean).toBeLessThan(0.01);
    expect(Buffer.from(withPeft.data).equals(Buffer.from(withKohya.data))).toBe(true);
  });

  it('refuses LoRAs for another family, for SDXL, matching nothing, or not LoRAs at all — naming the file, writing nothing', async () => {
    const cache = path.join(tmp, 'cache-bad');
    const cases: [string, Record<string, number[]>, RegExp][] = [
      ['sd2-lora.safetensors', { 'lora_unet_down_blocks_1_attentions_1_transformer_blocks_0_attn2_to_k.lora_down.weight': [4, 1024], 'lora_unet_down_blocks_1_attentions_1_transformer_blocks_0_attn2_to_k.lora_up.weight': [32, 4] }, /sd2-lora\.safetensors does not fit this model: .*attn2_to_k is \[32 × 1024\] in the LoRA, \[32 × 32\] in the model/],
      ['xl-lora.safetensors', { 'lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight': [4, 768], 'lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight': [768, 4] }, /xl-lora\.safetensors is a LoRA for SDXL/],
      ['nothing.safetensors', { 'lora_unet_some_other_model_layer.lora_down.weight': [4, 8], 'lora_unet_some_other_model_layer.lora_up.weight': [8, 4] }, /nothing\.safetensors matches no weight of this model/],
      ['weights.safetensors', { 'conv_in.weight': [4, 4] }, /weights\.safetensors is not a LoRA/],
      ['half.safetensors', { 'lora_unet_conv_in.lora_down.weight': [4, 4, 3, 3] }, /half\.safetensors: lora_unet_conv_in lacks its up weight/],
    ];
    for (const [name, tensors, message] of cases) {
      const file = loraFile(name, tensors);
      let caught: unknown;
      try {
        await applyLoras(base, [{ file, weight: 1 }], cache);
      } catch (error) {
        caught = error;
      }
      expect(caught, name).toBeInstanceOf(LoraError);
      expect((caught as LoraError).code).toBe('invalid_file');
      expect((caught as LoraError).message).toMatch(message);
    }
    const cut = path.join(tmp, 'cut-lora.safetensors');
    const whole = fs.readFileSync(path.join(LORA, 'lora-kohya.safetensors'));
    fs.writeFileSync(cut, whole.subarray(0, whole.length - 100));
    await expect(applyLoras(base, [{ file: cut, weight: 1 }], cache)).rejects.toThrow(/cut-lora\.safetensors: tensor .* ends past the end of the file/);
    expect(fs.existsSync(cache) ? fs.readdirSync(cache) : []).toEqual([]);
  });
});
