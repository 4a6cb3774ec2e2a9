import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidModelError } from '../../app/engine/model/errors.js';
import type { GraphIO, GraphReader } from '../../app/engine/model/graph-io.js';
import { readTextEncoder } from '../../app/engine/model/text-encoder-layout.js';
import { readUnet } from '../../app/engine/model/unet-layout.js';
import { readVaeDecoder, readVaeEncoder, vaeScaling } from '../../app/engine/model/vae-layout.js';

// Each part reader of app/engine/model/layout.ts on its own, with graphs described in memory:
// what it reads from the metadata, and the InvalidModelError naming the part when it cannot.

type Shape = Array<number | string>;
const tensor = (name: string, type: string, shape: Shape) => ({ name, isTensor: true as const, type, shape });
const graph = (inputs: ReturnType<typeof tensor>[], outputs: ReturnType<typeof tensor>[]): GraphIO => ({ inputs, outputs }) as unknown as GraphIO;

/** A reader that answers from a table by the part's path, and fails the test on any other. */
function reader(graphs: Record<string, GraphIO>): GraphReader {
  return async (_file, part) => {
    const io = graphs[part];
    if (!io) throw new Error(`unexpected read of ${part}`);
    return io;
  };
}

async function refusal(promise: Promise<unknown>): Promise<InvalidModelError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidModelError);
  return error as InvalidModelError;
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-layout-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('text encoder reader', () => {
  const te = (idsType: string, width: number | string) => graph([tensor('input_ids', idsType, ['batch', 77])], [tensor('last_hidden_state', 'float32', ['batch', 77, width]), tensor('pooler_output', 'float32', ['batch', width])]);

  it('takes the token dtype and the width from the graph', async () => {
    const { layout } = await readTextEncoder(dir, reader({ 'text_encoder/model.onnx': te('int32', 1024) }), undefined);
    expect(layout).toMatchObject({ idsName: 'input_ids', idsType: 'int32', hiddenName: 'last_hidden_state', dim: 1024 });
  });

  it('falls back to hidden_size for a symbolic width, and refuses a config that disagrees', async () => {
    expect((await readTextEncoder(dir, reader({ 'text_encoder/model.onnx': te('int64', 'dim') }), { hidden_size: 768 })).layout.dim).toBe(768);
    const error = await refusal(readTextEncoder(dir, reader({ 'text_encoder/model.onnx': te('int64', 768) }), { hidden_size: 1024 }));
    expect(error.part).toBe('text_encoder/config.json');
  });

  it('refuses float token ids, naming the graph', async () => {
    const error = await refusal(readTextEncoder(dir, reader({ 'text_encoder/model.onnx': te('float32', 768) }), undefined));
    expect(error.part).toBe('text_encoder/model.onnx');
    expect(error.message).toMatch(/expected int32 or int64/);
  });
});

describe('UNet reader', () => {
  const unet = (channels: number, extra: ReturnType<typeof tensor>[] = []) =>
    graph(
      [tensor('sample', 'float16', ['b', channels, 'h', 'w']), tensor('timestep', 'int64', ['b']), tensor('encoder_hidden_states', 'float16', ['b', 77, 768]), ...extra],
      [tensor('out_sample', 'float16', ['b', 4, 'h', 'w'])],
    );

  it('reads channels, timestep dtype and rank, and an LCM timestep_cond', async () => {
    const notes: string[] = [];
    const { unet: layout, sdxl, control } = await readUnet(dir, reader({ 'unet/model.onnx': unet(9, [tensor('timestep_cond', 'float16', ['b', 256])]) }), undefined, 768, notes);
    expect(layout).toMatchObject({ inChannels: 9, sampleType: 'float16', timestepType: 'int64', timestepRank: 1, hiddenDim: 768, timestepCondName: 'timestep_cond', timestepCondDim: 256, downResidualNames: [] });
    expect(sdxl).toBe(false);
    expect(control).toBeUndefined();
    expect(notes).toEqual([]);
  });

  it('refuses a channel count that is neither 4 nor 9, and a config that disagrees with the graph', async () => {
    expect((await refusal(readUnet(dir, reader({ 'unet/model.onnx': unet(5) }), undefined, 768, []))).message).toMatch(/takes 5 channels; expected 4/);
    expect((await refusal(readUnet(dir, reader({ 'unet/model.onnx': unet(4) }), { in_channels: 9 }, 768, []))).part).toBe('unet/config.json');
  });

  it('refuses a text width that the cross-attention does not take', async () => {
    expect((await refusal(readUnet(dir, reader({ 'unet/model.onnx': unet(4) }), undefined, 1024, []))).message).toMatch(/1024 does not match unet cross-attention dim 768/);
  });

  it('checks the residual count against block_out_channels and layers_per_block', async () => {
    // block_out_channels [32, 64], one layer each: conv_in 32, 32, downsample 32, 64; mid 64.
    const residuals = [...[32, 32, 32, 64].map((c, i) => tensor(`down_block_${i}`, 'float16', ['b', c, 'h', 'w'])), tensor('mid_block', 'float16', ['b', 64, 'h', 'w'])];
    const config = { block_out_channels: [32, 64], layers_per_block: 1 };
    const { unet: layout } = await readUnet(dir, reader({ 'unet/model.onnx': unet(4, residuals) }), config, 768, []);
    expect(layout.downResidualNames).toEqual(['down_block_0', 'down_block_1', 'down_block_2', 'down_block_3']);
    expect(layout.midResidualName).toBe('mid_block');
    const error = await refusal(readUnet(dir, reader({ 'unet/model.onnx': unet(4, residuals) }), { ...config, layers_per_block: 2 }, 768, []));
    expect(error.message).toMatch(/takes 4 down-block residuals but its config .* implies 6/);
  });

  it('finds a ControlNet-ready UNet one folder down when unet/ takes no residuals', async () => {
    fs.mkdirSync(path.join(dir, 'cn_unet'));
    fs.writeFileSync(path.join(dir, 'cn_unet', 'model.onnx'), '');
    const residuals = [...Array.from({ length: 12 }, (_, i) => tensor(`down_block_${i}_additional_residual`, 'float16', ['b', null as unknown as number, 'h', 'w'])), tensor('mid_block_additional_residual', 'float16', ['b', 1280, 'h', 'w'])];
    const notes: string[] = [];
    const part = await readUnet(dir, reader({ 'unet/model.onnx': unet(4), 'cn_unet/model.onnx': unet(4, residuals) }), undefined, 768, notes);
    expect(part.control?.unet.part).toBe('cn_unet/model.onnx');
    expect(part.control?.unet.downResidualNames).toHaveLength(12);
    expect(notes).toEqual(['ControlNet-ready UNet: cn_unet/model.onnx']);
  });
});

describe('VAE readers', () => {
  const encoder = (out: string, channels: number) => graph([tensor('sample', 'float32', ['b', 3, 'H', 'W'])], [tensor(out, 'float32', ['b', channels, 'h', 'w'])]);

  it('tells latent_parameters (mean ‖ logvar) from latent_sample by name, or by 8 channels', async () => {
    fs.mkdirSync(path.join(dir, 'vae_encoder'));
    fs.writeFileSync(path.join(dir, 'vae_encoder', 'model.onnx'), '');
    const read = async (out: string, channels: number) => (await readVaeEncoder(dir, reader({ 'vae_encoder/model.onnx': encoder(out, channels) }), []))?.layout.kind;
    expect(await read('latent_parameters', 8)).toBe('latent_parameters');
    expect(await read('onnx::Output_0', 8)).toBe('latent_parameters');
    expect(await read('latent_sample', 4)).toBe('latent_sample');
  });

  it('notes a missing encoder (text-to-image only) instead of failing', async () => {
    const notes: string[] = [];
    expect(await readVaeEncoder(dir, reader({}), notes)).toBeUndefined();
    expect(notes[0]).toMatch(/^no vae_encoder: text-to-image only/);
  });

  it('refuses a decoder that does not take 4 latent channels', async () => {
    const decoder = graph([tensor('latent_sample', 'float32', ['b', 16, 'h', 'w'])], [tensor('sample', 'float32', ['b', 3, 'H', 'W'])]);
    expect((await refusal(readVaeDecoder(dir, reader({ 'vae_decoder/model.onnx': decoder })))).message).toMatch(/takes 16 latent channels; expected 4/);
  });

  it('scales by the config, else by SD 1.x/2.x with a note', () => {
    expect(vaeScaling({ scaling_factor: 0.13025, block_out_channels: [128, 256, 512, 512] }, [])).toEqual({ scalingFactor: 0.13025, vaeScaleFactor: 8 });
    const notes: string[] = [];
    expect(vaeScaling({ block_out_channels: [64, 64] }, notes)).toEqual({ scalingFactor: 0.18215, vaeScaleFactor: 2 });
    expect(notes).toHaveLength(1);
  });
});
