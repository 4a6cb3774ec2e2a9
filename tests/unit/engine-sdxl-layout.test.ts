import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidModelError } from '../../app/engine/model/errors.js';
import type { GraphIO, GraphReader } from '../../app/engine/model/graph-io.js';
import { familySizePresets, readModelLayout } from '../../app/engine/model/layout.js';
import { readTextEncoder } from '../../app/engine/model/text-encoder-layout.js';
import { timeIds } from '../../app/engine/pipeline/sdxl.js';

// SDXL's layout readers with graphs described in memory: which outputs and inputs are taken,
// and the InvalidModelError naming the part when an SDXL folder does not hold together.

type Shape = Array<number | string>;
const tensor = (name: string, type: string, shape: Shape) => ({ name, isTensor: true as const, type, shape });
const graph = (inputs: ReturnType<typeof tensor>[], outputs: ReturnType<typeof tensor>[]): GraphIO => ({ inputs, outputs }) as unknown as GraphIO;

const hiddenStates = (n: number, width: number) => Array.from({ length: n + 1 }, (_, i) => tensor(`hidden_states.${i}`, 'float32', ['b', 77, width]));
const te1 = graph([tensor('input_ids', 'int32', ['b', 77])], [tensor('last_hidden_state', 'float32', ['b', 77, 768]), tensor('pooler_output', 'float32', ['b', 768]), ...hiddenStates(12, 768)]);
const te2 = graph([tensor('input_ids', 'int64', ['b', 77])], [tensor('text_embeds', 'float32', ['b', 1280]), tensor('last_hidden_state', 'float32', ['b', 77, 1280]), ...hiddenStates(32, 1280)]);
const unet = (extra: ReturnType<typeof tensor>[], cross = 2048) =>
  graph([tensor('sample', 'float16', ['b', 4, 'h', 'w']), tensor('timestep', 'float16', ['b']), tensor('encoder_hidden_states', 'float16', ['b', 77, cross]), ...extra], [tensor('out_sample', 'float16', ['b', 4, 'h', 'w'])]);
const added = (pooled = 1280, ids = 6) => [tensor('text_embeds', 'float16', ['b', pooled]), tensor('time_ids', 'float16', ['b', ids])];
const vaeDec = graph([tensor('latent_sample', 'float16', ['b', 4, 'h', 'w'])], [tensor('sample', 'float16', ['b', 3, 'H', 'W'])]);

function reader(graphs: Record<string, GraphIO>): GraphReader {
  return async (_file, part) => {
    const io = graphs[part];
    if (!io) throw new Error(`unexpected read of ${part}`);
    return io;
  };
}

let dir: string;
function folder(parts: string[], files: Record<string, unknown> = {}): void {
  for (const p of parts) {
    fs.mkdirSync(path.join(dir, path.dirname(p)), { recursive: true });
    fs.writeFileSync(path.join(dir, p), '');
  }
  for (const [p, json] of Object.entries(files)) {
    fs.mkdirSync(path.join(dir, path.dirname(p)), { recursive: true });
    fs.writeFileSync(path.join(dir, p), JSON.stringify(json));
  }
}
const TOKENIZERS = ['tokenizer/vocab.json', 'tokenizer/merges.txt', 'tokenizer_2/vocab.json', 'tokenizer_2/merges.txt'];
const BASE = ['text_encoder/model.onnx', 'text_encoder_2/model.onnx', 'unet/model.onnx', 'vae_decoder/model.onnx', ...TOKENIZERS];
const CONFIGS = {
  'scheduler/scheduler_config.json': { _class_name: 'EulerDiscreteScheduler', beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 },
  'unet/config.json': { sample_size: 128, block_out_channels: [320, 640, 1280], layers_per_block: 2, cross_attention_dim: 2048 },
  'vae_decoder/config.json': { scaling_factor: 0.13025, force_upcast: true, block_out_channels: [128, 256, 512, 512] },
  'model_index.json': { _class_name: 'StableDiffusionXLPipeline', force_zeros_for_empty_prompt: true },
};

async function refusal(promise: Promise<unknown>): Promise<InvalidModelError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidModelError);
  return error as InvalidModelError;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-sdxl-layout-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('SDXL layout', () => {
  it('reads an SDXL 1.0-shaped folder: 2048-wide text, 1024² default, buckets, float16 VAE run in float32', async () => {
    folder(BASE, CONFIGS);
    const layout = await readModelLayout(dir, reader({ 'text_encoder/model.onnx': te1, 'text_encoder_2/model.onnx': te2, 'unet/model.onnx': unet(added()), 'vae_decoder/model.onnx': vaeDec }));
    expect(layout.textEncoders.map((t) => [t.part, t.hiddenName, t.dim, t.pooledName])).toEqual([
      ['text_encoder/model.onnx', 'hidden_states.11', 768, undefined],
      ['text_encoder_2/model.onnx', 'hidden_states.31', 1280, 'text_embeds'],
    ]);
    expect(layout.textDim).toBe(2048);
    expect(layout.sdxl).toEqual({ timeIdsWidth: 6, pooledDim: 1280, forceZerosForEmptyPrompt: true, forceUpcast: true });
    expect(layout.vaeDecoder.upcast).toBe(true);
    expect(layout.info).toMatchObject({ family: 'sdxl', defaultWidth: 1024, defaultHeight: 1024, sizeMultiple: 32, dtype: 'float16' });
    expect(layout.info.sizePresets).toEqual([
      { width: 1024, height: 1024 }, { width: 1152, height: 896 }, { width: 896, height: 1152 }, { width: 1216, height: 832 }, { width: 832, height: 1216 },
      { width: 1344, height: 768 }, { width: 768, height: 1344 }, { width: 1536, height: 640 }, { width: 640, height: 1536 },
    ]);
  });

  it('refuses a UNet whose text_embeds width is not text_encoder_2\'s, and half an added conditioning', async () => {
    folder(BASE, CONFIGS);
    const graphs = { 'text_encoder/model.onnx': te1, 'text_encoder_2/model.onnx': te2, 'vae_decoder/model.onnx': vaeDec };
    const wrong = await refusal(readModelLayout(dir, reader({ ...graphs, 'unet/model.onnx': unet(added(1024)) })));
    expect(wrong.message).toMatch(/text_embeds 1024 wide but text_encoder_2 gives 1280/);
    const half = await refusal(readModelLayout(dir, reader({ ...graphs, 'unet/model.onnx': unet([tensor('time_ids', 'float16', ['b', 6])]) })));
    expect(half.part).toBe('unet/model.onnx');
    const plain = await refusal(readModelLayout(dir, reader({ ...graphs, 'unet/model.onnx': unet([]) })));
    expect(plain.message).toMatch(/takes no text_embeds\/time_ids/);
  });

  it('refuses an SDXL UNet without text_encoder_2, and text encoders without hidden states', async () => {
    folder(['text_encoder/model.onnx', 'unet/model.onnx', 'vae_decoder/model.onnx', 'tokenizer/vocab.json', 'tokenizer/merges.txt'], { ...CONFIGS, 'model_index.json': {}, 'unet/config.json': {} });
    const noSecond = await refusal(readModelLayout(dir, reader({ 'text_encoder/model.onnx': te1, 'unet/model.onnx': unet(added(), 768), 'vae_decoder/model.onnx': vaeDec })));
    expect(noSecond.part).toBe('text_encoder_2/model.onnx');
    // SDXL's 2048-wide UNet behind CLIP-L alone: the width mismatch says what is missing
    const wide = await refusal(readModelLayout(dir, reader({ 'text_encoder/model.onnx': te1, 'unet/model.onnx': unet(added()), 'vae_decoder/model.onnx': vaeDec })));
    expect(wide.message).toMatch(/an SDXL UNet, and text_encoder_2\/model.onnx is missing/);
    const bare = graph([tensor('input_ids', 'int64', ['b', 77])], [tensor('text_embeds', 'float32', ['b', 1280]), tensor('last_hidden_state', 'float32', ['b', 77, 1280])]);
    const error = await refusal(readTextEncoder(dir, reader({ 'text_encoder_2/model.onnx': bare }), undefined, { folder: 'text_encoder_2', sdxl: true }));
    expect(error.message).toMatch(/penultimate/);
  });

  it('reads the refiner: text_encoder_2 alone, five time ids, no force_zeros', async () => {
    folder(['text_encoder_2/model.onnx', 'unet/model.onnx', 'vae_decoder/model.onnx', 'tokenizer_2/vocab.json', 'tokenizer_2/merges.txt'], {
      ...CONFIGS,
      'unet/config.json': { sample_size: 128, block_out_channels: [384, 768, 1536, 1536], layers_per_block: 2 },
      'model_index.json': { _class_name: 'StableDiffusionXLImg2ImgPipeline', force_zeros_for_empty_prompt: false, requires_aesthetics_score: true },
    });
    const layout = await readModelLayout(dir, reader({ 'text_encoder_2/model.onnx': te2, 'unet/model.onnx': unet(added(1280, 5), 1280), 'vae_decoder/model.onnx': vaeDec }));
    expect(layout.textEncoders.map((t) => t.part)).toEqual(['text_encoder_2/model.onnx']);
    expect(layout.sdxl).toMatchObject({ timeIdsWidth: 5, forceZerosForEmptyPrompt: false });
    expect([...timeIds(layout.sdxl!, 1024, 768).cond]).toEqual([768, 1024, 0, 0, 6]);
    expect([...timeIds(layout.sdxl!, 1024, 768).uncond]).toEqual([768, 1024, 0, 0, 2.5]);
  });

  it('scales the buckets to a smaller default size and its multiple, without duplicates', () => {
    const presets = familySizePresets(512, 64);
    expect(presets[0]).toEqual({ width: 512, height: 512 });
    expect(new Set(presets.map((p) => `${p.width}x${p.height}`)).size).toBe(presets.length);
    expect(presets.every((p) => p.width % 64 === 0 && p.height % 64 === 0)).toBe(true);    // SD 1.x gets SDXL's aspects around 512², the starter around 256².
    expect(presets.slice(0, 3)).toEqual([{ width: 512, height: 512 }, { width: 576, height: 448 }, { width: 448, height: 576 }]);
    expect(familySizePresets(256, 32)[1]).toEqual({ width: 288, height: 224 });
  });
});
