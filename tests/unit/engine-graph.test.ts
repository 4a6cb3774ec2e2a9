import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildClipTextEncoder,
  buildControlNet,
  buildUnet,
  buildVaeDecoder,
  buildVaeEncoder,
  clipConfigFromWeights,
  MemoryWeights,
  OPSET,
  parseUnetConfig,
  readModelProto,
  readSafetensorsHeader,
  safetensorsWeights,
  unetConfigFromWeights,
  vaeConfigFromWeights,
  withPrefix,
  writeModel,
  type WeightSource,
} from '../../app/engine/graph/index.js';
import { InvalidModelError } from '../../app/engine/model/errors.js';

// The graph builder's bad-input handling and what it writes, without running a graph
// (tests/integration/engine-graph.test.ts runs them against PyTorch).

const FIXTURES = path.resolve('tests/fixtures/graph');
const config = (net: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, net, 'config.json'), 'utf8')) as Record<string, unknown>;
const weights = (net: string) => safetensorsWeights(path.join(FIXTURES, net, 'model.safetensors'));
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-graph-unit-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The same weights with one left out, or with one's shape changed. */
function edited(base: WeightSource, name: string, shape?: number[]): WeightSource {
  return {
    label: base.label,
    names: () => base.names().filter((n) => shape || n !== name),
    info: (n) => (n !== name ? base.info(n) : shape ? { dtype: base.info(n)!.dtype, shape } : undefined),
    read: (n) => base.read(n),
  };
}

function thrown(fn: () => unknown): InvalidModelError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidModelError);
    return error as InvalidModelError;
  }
  throw new Error('expected an InvalidModelError');
}

describe('graph builder: bad input is a clear invalid_model error', () => {
  it('names a missing weight and the network', () => {
    const e = thrown(() => buildUnet(config('unet-sd1'), edited(weights('unet-sd1'), 'down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight')));
    expect(e.code).toBe('invalid_model');
    expect(e.part).toBe('unet');
    expect(e.message).toMatch(/weight down_blocks\.1\.attentions\.0\.transformer_blocks\.0\.attn2\.to_k\.weight is missing from model\.safetensors/);
  });

  it('refuses weights whose shapes contradict the config', () => {
    // a 9-channel conv_in under a 4-channel config
    const e = thrown(() => buildUnet(config('unet-sd1'), edited(weights('unet-sd1'), 'conv_in.weight', [16, 9, 3, 3])));
    expect(e.message).toMatch(/conv_in\.weight takes 9 channels, expected 4/);
    const cross = thrown(() => buildUnet({ ...config('unet-sd1'), block_out_channels: [16, 64, 32] }, weights('unet-sd1')));
    expect(cross.message).toBe('unet: down_blocks.1.resnets.0 gives 32 channels, block_out_channels says 64');
    const vocab = thrown(() => buildClipTextEncoder({ ...config('clip'), vocab_size: 49408 }, weights('clip')));
    expect(vocab.message).toMatch(/token_embedding\.weight has shape \[1000, 32\], expected \[49408, 32\]/);
  });

  it('refuses what SD 1.x/2.x graphs do not have, by name', () => {
    expect(thrown(() => parseUnetConfig({ ...config('unet-sd1'), addition_embed_type: 'text_image' })).message).toMatch(/addition_embed_type .* not supported/);
    expect(thrown(() => parseUnetConfig({ ...config('unet-sd1'), addition_embed_type: 'text_time' })).message).toMatch(/needs projection_class_embeddings_input_dim/);
    expect(thrown(() => parseUnetConfig({ ...config('unet-sd1'), down_block_types: ['CrossAttnDownBlock2D', 'FancyBlock', 'DownBlock2D'] })).message).toMatch(/down_block_types must be 3 of/);
    expect(thrown(() => parseUnetConfig({ ...config('unet-sd1'), attention_head_dim: [1, 2] })).message).toMatch(/attention_head_dim must be a number or one per block \(3\)/);
    expect(thrown(() => buildClipTextEncoder({ ...config('clip'), hidden_act: 'relu' }, weights('clip'))).message).toMatch(/hidden_act relu is not supported/);
    expect(thrown(() => buildControlNet({ ...config('controlnet'), global_pool_conditions: true }, weights('controlnet'))).message).toMatch(/global_pool_conditions/);
  });

  it('refuses safetensors files that are truncated or whose header lies', () => {
    const good = fs.readFileSync(path.join(FIXTURES, 'clip', 'model.safetensors'));
    const write = (name: string, bytes: Buffer): string => {
      const file = path.join(tmp, name);
      fs.writeFileSync(file, bytes);
      return file;
    };
    expect(thrown(() => readSafetensorsHeader(write('short.safetensors', good.subarray(0, 5)))).message).toMatch(/too short/);
    expect(thrown(() => readSafetensorsHeader(write('truncated.safetensors', good.subarray(0, good.length - 100)))).message).toMatch(/ends past the end of the file \(truncated\?\)/);
    const headerLength = Number(good.readBigUInt64LE(0));
    const header = JSON.parse(good.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
    const lie = { ...header, 'text_model.final_layer_norm.bias': { ...header['text_model.final_layer_norm.bias']!, shape: [64] } };
    const raw = Buffer.from(JSON.stringify(lie).padEnd(headerLength + 16, ' '));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(raw.length));
    expect(thrown(() => readSafetensorsHeader(write('lie.safetensors', Buffer.concat([len, raw, good.subarray(8 + headerLength)])))).message).toMatch(/final_layer_norm\.bias \[64\] F16 needs 128 bytes, its offsets give 64/);
    const huge = Buffer.alloc(8);
    huge.writeBigUInt64LE(1n << 40n);
    expect(thrown(() => readSafetensorsHeader(write('huge.safetensors', Buffer.concat([huge, good.subarray(8)])))).message).toMatch(/header length \d+ does not fit the file/);
    expect(thrown(() => readSafetensorsHeader(write('notjson.safetensors', Buffer.concat([good.subarray(0, 8), Buffer.alloc(headerLength, 0x7b), good.subarray(8 + headerLength)])))).message).toMatch(/not JSON/);
  });
});

describe('graph builder: what it writes', () => {
  it('leaves no data file behind when a weight cannot be read', () => {
    const base = weights('vae');
    const failing: WeightSource = { ...base, names: () => base.names(), info: (n) => base.info(n), read: (n) => (n === 'decoder.conv_out.weight' ? (() => { throw new InvalidModelError('vae', 'read failed'); })() : base.read(n)) };
    const dir = path.join(tmp, 'failing');
    expect(() => writeModel(dir, buildVaeDecoder(config('vae'), failing))).toThrow(/read failed/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });


  it('an opset-17 ModelProto whose weights all live in model.onnx_data, page-aligned when large', () => {
    const built = buildVaeDecoder(config('vae'), weights('vae'), { dtype: 'float16' });
    const written = writeModel(path.join(tmp, 'vae'), built);
    const proto = readModelProto(written.file) as {
      opsetImport: Array<{ version: number }>;
      graph: { initializer: Array<{ name: string; dataType: number; rawData?: number[]; externalData?: Array<{ key: string; value: string }> }>; input: Array<{ name: string }>; output: Array<{ name: string }> };
      metadataProps: Array<{ key: string; value: string }>;
    };
    expect(proto.opsetImport[0]!.version).toBe(OPSET);
    expect(proto.graph.input.map((i) => i.name)).toEqual(['latent_sample']);
    expect(proto.graph.output.map((o) => o.name)).toEqual(['sample']);
    const external = proto.graph.initializer.filter((t) => t.externalData);
    expect(external.length).toBeGreaterThan(50);
    let bytes = 0;
    for (const t of external) {
      const kv = Object.fromEntries(t.externalData!.map((e) => [e.key, e.value]));
      expect(kv.location).toBe('model.onnx_data');
      expect(t.dataType).toBe(10); // float16
      const length = Number(kv.length);
      expect(Number(kv.offset) % (length >= 4096 ? 4096 : 16)).toBe(0);
      bytes += length;
    }
    // every AutoencoderKL decoder weight is there once, and the file holds nothing else but padding
    const decoderWeights = weights('vae').names().filter((n) => n.startsWith('decoder.') || n.startsWith('post_quant_conv.'));
    expect(new Set(external.map((t) => t.name.replace(/_\d+$/, ''))).size).toBe(decoderWeights.length);
    expect(written.dataBytes).toBeGreaterThanOrEqual(bytes);
    expect(proto.graph.initializer.filter((t) => !t.externalData).every((t) => (t.rawData?.length ?? 0) < 4096)).toBe(true);
    expect(proto.metadataProps.find((m) => m.key === 'atelier.network')?.value).toBe('vae_decoder');
  });

  it('upcast_attention puts float32 casts around every attention of a float16 UNet, and only there', () => {
    const casts = (upcast: boolean, dtype: 'float16' | 'float32') => {
      const built = buildUnet({ ...config('unet-sd2-inpaint'), upcast_attention: upcast }, weights('unet-sd2-inpaint'), { dtype });
      const proto = readModelProto(writeModel(path.join(tmp, `upcast-${upcast}-${dtype}`), built).file) as { graph: { node: Array<{ opType: string }> } };
      return proto.graph.node.filter((n) => n.opType === 'Cast').length;
    };
    // transformers: 2 down (the last down block has none), 1 mid, 2 × 2 up: 7 × 2 attentions × (q, k, softmax out)
    expect(casts(true, 'float16') - casts(false, 'float16')).toBe(7 * 2 * 3);
    expect(casts(true, 'float32')).toBe(casts(false, 'float32'));
  });

  it('takes weights from memory and from a prefixed whole-pipeline source alike', () => {
    const base = weights('clip');
    const prefixed = new MemoryWeights('pipeline');
    for (const name of base.names()) {
      const info = base.info(name)!;
      const bytes = base.read(name);
      const values = new Float32Array(bytes.length / 2);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < values.length; i++) values[i] = view.getUint16(i * 2, true) / 65536; // any values will do
      prefixed.set(`cond_stage_model.${name}`, values, info.shape);
    }
    const built = buildClipTextEncoder(config('clip'), withPrefix(prefixed, 'cond_stage_model.'), { hiddenStates: 'penultimate' });
    const proto = readModelProto(writeModel(path.join(tmp, 'clip'), built).file) as { graph: { output: Array<{ name: string }> } };
    expect(proto.graph.output.map((o) => o.name)).toEqual(['last_hidden_state', 'pooler_output', 'hidden_states.2']);
  });
});

describe('graph builder: configs derived from the weights', () => {
  /** The nodes of a built graph (the config also sits in its metadata, so the files differ). */
  const nodes = (name: string, built: Parameters<typeof writeModel>[1]) =>
    (readModelProto(writeModel(path.join(tmp, `infer-${name}`), built).file) as { graph: { node: unknown[] } }).graph.node;
  const pick = (cfg: Record<string, unknown>, keys: string[]) => Object.fromEntries(keys.map((k) => [k, cfg[k]]));

  it('reads every UNet and ControlNet setting the shapes tell; builds the same graph', () => {
    const keys = ['in_channels', 'block_out_channels', 'layers_per_block', 'cross_attention_dim', 'use_linear_projection', 'down_block_types', 'norm_num_groups', 'sample_size', 'attention_head_dim'];
    for (const net of ['unet-sd1', 'unet-sd2-inpaint', 'controlnet']) {
      const cfg = config(net);
      const inferred = unetConfigFromWeights(weights(net), { heads: cfg.attention_head_dim as number | number[], normNumGroups: 4, sampleSize: 8 });
      expect(pick(inferred, keys)).toEqual(pick(cfg, keys));
      if (net === 'controlnet') {
        expect(pick(inferred, ['_class_name', 'conditioning_channels', 'conditioning_embedding_out_channels'])).toEqual(pick(cfg, ['_class_name', 'conditioning_channels', 'conditioning_embedding_out_channels']));
        expect(nodes(`${net}-a`, buildControlNet(inferred, weights(net)))).toEqual(nodes(`${net}-b`, buildControlNet(cfg, weights(net))));
      } else {
        expect(pick(inferred, ['out_channels', 'up_block_types'])).toEqual(pick(cfg, ['out_channels', 'up_block_types']));
        expect(nodes(`${net}-a`, buildUnet(inferred, weights(net)))).toEqual(nodes(`${net}-b`, buildUnet(cfg, weights(net))));
      }
    }
  });

  it('uses SD 1.x/2.x head rules when heads are not known', () => {
    // 768-wide cross attention: SD 1.x's 8 heads; otherwise 64 channels per head (SD 2.x)
    const sd1 = new MemoryWeights('sd1');
    const sd2 = new MemoryWeights('sd2');
    for (const [w, cross] of [[sd1, 768], [sd2, 1024]] as const) {
      w.set('conv_in.weight', new Float32Array(320 * 4 * 9), [320, 4, 3, 3]);
      w.set('conv_out.weight', new Float32Array(4 * 320 * 9), [4, 320, 3, 3]);
      w.set('down_blocks.0.resnets.0.conv1.weight', new Float32Array(320 * 320 * 9), [320, 320, 3, 3]);
      w.set('down_blocks.0.attentions.0.proj_in.weight', new Float32Array(320 * 320), [320, 320]);
      w.set('down_blocks.0.attentions.0.transformer_blocks.0.norm1.weight', new Float32Array(320), [320]);
      w.set('down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight', new Float32Array(320 * cross), [320, cross]);
    }
    expect(unetConfigFromWeights(sd1).attention_head_dim).toBe(8);
    expect(unetConfigFromWeights(sd2).attention_head_dim).toBe(5);
    expect(unetConfigFromWeights(sd2).use_linear_projection).toBe(true);
  });

  it('reads SDXL\'s added conditioning from add_embedding; refuses sizes that do not add up', () => {
    const base = weights('unet-sd1');
    const sdxl = new MemoryWeights('sdxl.safetensors').set('add_embedding.linear_1.weight', new Float32Array(4), [2, 2]);
    const both: WeightSource = { label: 'sdxl.safetensors', names: () => [...base.names(), ...sdxl.names()], info: (n) => base.info(n) ?? sdxl.info(n), read: (n) => (base.info(n) ? base.read(n) : sdxl.read(n)) };
    const inferred = unetConfigFromWeights(both, { heads: 4, normNumGroups: 4 });
    expect(inferred).toMatchObject({ addition_embed_type: 'text_time', addition_time_embed_dim: 256, projection_class_embeddings_input_dim: 2 });
    expect(thrown(() => buildUnet(inferred, both)).message).toMatch(/projection_class_embeddings_input_dim 2 is not text_embeds \(-1534\) plus whole time ids of 256/);
  });

  it('reads CLIP and AutoencoderKL settings from their weights; builds the same graphs', () => {
    const clip = clipConfigFromWeights(weights('clip'), { heads: 4 });
    const keys = ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'max_position_embeddings', 'hidden_act'];
    expect(pick(clip, keys)).toEqual(pick(config('clip'), keys));
    expect(nodes('clip-a', buildClipTextEncoder(clip, weights('clip')))).toEqual(nodes('clip-b', buildClipTextEncoder(config('clip'), weights('clip'))));
    expect(thrown(() => clipConfigFromWeights(weights('clip'))).message).toBe('text_encoder: width 32 does not split into 64-wide heads; the number of heads must be given');
    const vae = vaeConfigFromWeights(weights('vae'), { normNumGroups: 4, sampleSize: 32 });
    const vkeys = ['in_channels', 'out_channels', 'latent_channels', 'block_out_channels', 'layers_per_block', 'norm_num_groups', 'scaling_factor', 'sample_size'];
    expect(pick(vae, vkeys)).toEqual(pick(config('vae'), vkeys));
    expect(nodes('vae-a', buildVaeEncoder(vae, weights('vae')))).toEqual(nodes('vae-b', buildVaeEncoder(config('vae'), weights('vae'))));
    expect(thrown(() => vaeConfigFromWeights(weights('clip'))).message).toMatch(/not an AutoencoderKL in diffusers naming/);
  });
});
