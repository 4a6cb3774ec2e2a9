import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildClipTextEncoder,
  buildUnet,
  buildVaeDecoder,
  parseUnetConfig,
  RandomWeights,
  readModelProto,
  readSafetensorsBytes,
  readSafetensorsHeader,
  safetensorsWeights,
  writeModel,
  type BuiltGraph,
  unetWeightShapes,
  biasSplitGeluFits,
  multiHeadAttentionFits,
  type FusedChoice,
} from '../../app/engine/graph/index.js';

// Fused graphs (com.microsoft contrib operators, docs/graph-builder.md "Fused operators")
// against the plain ONNX graphs on the same weights (tests/fixtures/graph), run by ONNX
// Runtime's CPU provider. Measured 2026-11-30 (onnxruntime-node 1.30, 2-core AMD EPYC):
// largest |fused − plain| 1.0e-6 (UNet), 2.8e-7 (CLIP) of the output's scale; the tests allow 1e-5. Operators only
// GPU providers have (GroupNorm, BiasSplitGelu) are checked here for what is emitted;
// bench/gpu.ts compares their outputs on the GPU.

const FIXTURES = path.resolve('tests/fixtures/graph');
const TOL = 1e-5;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-fused-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const config = (net: string): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(FIXTURES, net, 'config.json'), 'utf8')) as Record<string, unknown>;
const weights = (net: string) => safetensorsWeights(path.join(FIXTURES, net, 'model.safetensors'));

function io(net: string): Map<string, { shape: number[]; data: Float32Array | BigInt64Array; dtype: string }> {
  const file = path.join(FIXTURES, net, 'io.safetensors');
  const out = new Map<string, { shape: number[]; data: Float32Array | BigInt64Array; dtype: string }>();
  for (const [name, entry] of readSafetensorsHeader(file).entries) {
    const bytes = readSafetensorsBytes(file, entry).slice();
    out.set(name, { dtype: entry.dtype, shape: entry.shape, data: entry.dtype === 'int64' ? new BigInt64Array(bytes.buffer) : new Float32Array(bytes.buffer) });
  }
  return out;
}

function tensor(v: { shape: number[]; data: Float32Array | BigInt64Array; dtype: string }): ort.Tensor {
  return v.dtype === 'int64' ? new ort.Tensor('int64', v.data as BigInt64Array, v.shape) : new ort.Tensor('float32', v.data as Float32Array, v.shape);
}

let counter = 0;
function write(built: BuiltGraph): string {
  return writeModel(path.join(tmp, `${built.name}-${counter++}`), built).file;
}

async function run(built: BuiltGraph, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(write(built));
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
  } finally {
    await session.release();
  }
}

/** Node op types by domain ('' = ONNX) and the opset imports of a written graph. */
interface NodeProto {
  opType: string;
  domain?: string;
  input?: string[];
  output?: string[];
  attribute?: Array<{ name: string; i?: number }>;
}

function ops(built: BuiltGraph): { contrib: Map<string, number>; plain: Set<string>; domains: string[]; nodes: NodeProto[] } {
  const proto = readModelProto(write(built)) as { graph: { node: NodeProto[] }; opsetImport: Array<{ domain?: string }> };
  const contrib = new Map<string, number>();
  const plain = new Set<string>();
  for (const n of proto.graph.node) {
    if (n.domain === 'com.microsoft') contrib.set(n.opType, (contrib.get(n.opType) ?? 0) + 1);
    else plain.add(n.opType);
  }
  return { contrib, plain, domains: proto.opsetImport.map((o) => o.domain ?? ''), nodes: proto.graph.node };
}

function relDiff(a: Float32Array | undefined, b: Float32Array | undefined): number {
  if (!a || !b || a.length !== b.length) throw new Error(`outputs differ in length: ${a?.length} vs ${b?.length}`);
  let worst = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return worst / scale;
}

describe('fused graphs equal plain graphs on the CPU provider', () => {
  it('UNet (SD1-style): MultiHeadAttention, SkipLayerNormalization and Gelu give the plain graph\'s noise prediction', async () => {
    const ref = io('unet-sd1');
    const feeds = { sample: tensor(ref.get('sample')!), timestep: tensor(ref.get('timestep')!), encoder_hidden_states: tensor(ref.get('encoder_hidden_states')!) };
    const fused = buildUnet(config('unet-sd1'), weights('unet-sd1'), { fused: 'cpu' });
    const found = ops(fused);
    // two attentions per transformer block, each followed by a residual add and a LayerNorm
    expect(found.contrib.get('MultiHeadAttention')).toBeGreaterThanOrEqual(2);
    expect(found.contrib.get('SkipLayerNormalization')).toBe(found.contrib.get('MultiHeadAttention'));
    expect(found.contrib.has('Gelu')).toBe(true);
    expect(found.contrib.has('GroupNorm')).toBe(false); // CUDA only
    expect(found.plain.has('Softmax')).toBe(false);
    expect(found.domains).toEqual(['', 'com.microsoft']);
    const plain = await run(buildUnet(config('unet-sd1'), weights('unet-sd1')), feeds);
    const out = await run(fused, feeds);
    expect(relDiff(out.out_sample, plain.out_sample)).toBeLessThan(TOL);
    // and still torch's output (the plain graph's tolerance, engine-graph.test.ts)
    expect(relDiff(out.out_sample, ref.get('out_sample')!.data as Float32Array)).toBeLessThan(2e-5);
  });

  it('CLIP: QuickGelu, and BiasGelu for a gelu config, give the plain graph\'s states; the causal attention stays plain', async () => {
    const ref = io('clip');
    const feeds = { input_ids: tensor(ref.get('input_ids')!) };
    for (const act of ['quick_gelu', 'gelu']) {
      const cfg = { ...config('clip'), hidden_act: act };
      const fused = buildClipTextEncoder(cfg, weights('clip'), { fused: 'cpu' });
      const found = ops(fused);
      expect(found.contrib.has(act === 'gelu' ? 'BiasGelu' : 'QuickGelu')).toBe(true);
      expect(found.contrib.has('MultiHeadAttention')).toBe(false);
      expect(found.contrib.get('SkipLayerNormalization')).toBe(3);
      const plain = await run(buildClipTextEncoder(cfg, weights('clip')), feeds);
      const out = await run(fused, feeds);
        for (const name of ['last_hidden_state', 'pooler_output', 'hidden_states.2']) expect(relDiff(out[name], plain[name])).toBeLessThan(TOL);
      if (act === 'quick_gelu') expect(relDiff(out.last_hidden_state, ref.get('last_hidden_state')!.data as Float32Array)).toBeLessThan(2e-5);
    }
  });

  it('VAE decoder: its pixel attention as MultiHeadAttention gives the plain graph\'s image', async () => {
    const ref = io('vae');
    const feeds = { latent_sample: tensor(ref.get('latent_sample')!) };
    const fused = buildVaeDecoder(config('vae'), weights('vae'), { fused: 'cpu' });
    expect(ops(fused).contrib.get('MultiHeadAttention')).toBe(1);
    const plain = await run(buildVaeDecoder(config('vae'), weights('vae')), feeds);
    expect(relDiff((await run(fused, feeds)).sample, plain.sample)).toBeLessThan(TOL);
  });
});

describe('fused operator choice per provider', () => {
  const build = (fused: FusedChoice, compute: 'float32' | 'float16' = 'float32') => ops(buildUnet(config('unet-sd1'), weights('unet-sd1'), { fused, dtype: compute, compute }));

  it('builds plain ONNX for none, and for the CPU when the graph computes in float16 (CPU kernels are float32)', () => {
    for (const found of [build('none'), build('cpu', 'float16')]) {
      expect(found.contrib.size).toBe(0);
      expect(found.domains).toEqual(['']);
    }
  });

  it('CUDA gets GroupNorm with the SiLU fused, NHWC between transposes and float32 scale/shift, in float16 too', () => {
    const found = build('cuda', 'float16');
    // the fixture's 16/32-wide blocks are no width CUDA's BiasSplitGelu takes: GEGLU stays Split + Gelu
    expect([...found.contrib.keys()].sort()).toEqual(['Gelu', 'GroupNorm', 'MultiHeadAttention', 'SkipLayerNormalization']);
    const norms = found.nodes.filter((n) => n.opType === 'GroupNorm');
    const attr = (n: (typeof norms)[number], name: string) => n.attribute?.find((a) => a.name === name)?.i ?? 0;
    // the CUDA kernel refuses channels_last 0 and float16 gamma/beta (contrib_ops/cuda/diffusion/group_norm.cc)
    expect(norms.every((n) => attr(n, 'channels_last') === 1 && attr(n, 'groups') === 4)).toBe(true);
    const producers = new Map(found.nodes.map((n) => [n.output?.[0], n]));
    for (const n of norms) {
      expect(producers.get(n.input?.[0])?.opType).toBe('Transpose');
      for (const w of [n.input?.[1], n.input?.[2]]) expect(producers.get(w)?.opType).toBe('Cast'); // float16 weights → float32
    }
    // resnets and conv_norm_out are followed by SiLU; the transformers' input norms are not
    expect(norms.some((n) => attr(n, 'activation') === 1)).toBe(true);
    expect(norms.some((n) => attr(n, 'activation') === 0)).toBe(true);
    expect(found.plain.has('InstanceNormalization')).toBe(false);
    expect(found.plain.has('Sigmoid')).toBe(true); // the time embedding's SiLU stays plain
  });

  it('the VAE decoder for CUDA fuses every GroupNorm, with SiLU where its conv_norm_out and resnets have one', () => {
    const found = ops(buildVaeDecoder(config('vae'), weights('vae'), { fused: 'cuda' }));
    expect(found.plain.has('InstanceNormalization')).toBe(false);
    expect(found.plain.has('Sigmoid')).toBe(false);
    expect(found.nodes.filter((n) => n.opType === 'GroupNorm' && n.attribute?.find((a) => a.name === 'activation')?.i === 1).length).toBeGreaterThan(1);
  });

  it('CUDA gets BiasSplitGelu for GEGLU only at the widths its kernel takes (SD\'s 320/640/1280)', () => {
    expect(biasSplitGeluFits('cuda', 2560)).toBe(true);
    expect(biasSplitGeluFits('cuda', 10240)).toBe(true);
    expect(biasSplitGeluFits('cuda', 256)).toBe(false);
    expect(biasSplitGeluFits('webgpu', 256)).toBe(true);
    // float16 on WebGPU: failed to run on lavapipe, kept plain
    expect(biasSplitGeluFits('webgpu', 2560, 'float16')).toBe(false);
    expect(biasSplitGeluFits('cuda', 2560, 'float16')).toBe(true);
    // WebGPU's MultiHeadAttention is wrong under 32-wide heads (lavapipe); SD's are 40–160
    expect(multiHeadAttentionFits('webgpu', 16)).toBe(false);
    expect(multiHeadAttentionFits('webgpu', 40)).toBe(true);
    expect(multiHeadAttentionFits('cuda', 4)).toBe(true);
    expect(multiHeadAttentionFits('cpu', 4)).toBe(true);
    const shapes = unetWeightShapes(parseUnetConfig({ ...config('unet-sd1'), block_out_channels: [320, 640, 640], attention_head_dim: 8, norm_num_groups: 32 }));
    // build only: the graph is not written (about 100 MB of random weights), its nodes are counted
    const built = buildUnet({ ...config('unet-sd1'), block_out_channels: [320, 640, 640], attention_head_dim: 8, norm_num_groups: 32 }, new RandomWeights(shapes), { fused: 'cuda' });
    const proto = built.graph.proto(new Map(built.externals.map((e) => [e.initializer, { offset: 0, length: 0 }])), 'x', {}) as { graph: { node: NodeProto[] } };
    // one per transformer block: 2 × 2 down, 1 mid, 2 × 3 up
    expect(proto.graph.node.filter((n) => n.opType === 'BiasSplitGelu').length).toBe(11);
  });

  it('WebGPU gets BiasSplitGelu but plain group normalisation', () => {
    const found = build('webgpu');
    expect(found.contrib.has('BiasSplitGelu')).toBe(true);
    expect(found.contrib.has('GroupNorm')).toBe(false);
    expect(found.plain.has('InstanceNormalization')).toBe(true);
  });

  it('WebGPU float16 takes MultiHeadAttention at SD\'s head sizes only, and the plain GEGLU', () => {
    const sized = { ...config('unet-sd1'), block_out_channels: [320, 640, 640], attention_head_dim: 8, norm_num_groups: 32 }; // heads of 40 and 80
    const shapes = unetWeightShapes(parseUnetConfig(sized));
    const nodes = (cfg: Record<string, unknown>, w: RandomWeights | ReturnType<typeof weights>) => {
      const built = buildUnet(cfg, w, { dtype: 'float16', fused: 'webgpu' });
      return (built.graph.proto(new Map(built.externals.map((e) => [e.initializer, { offset: 0, length: 0 }])), 'x', {}) as { graph: { node: NodeProto[] } }).graph.node;
    };
    const sd = nodes(sized, new RandomWeights(shapes));
    // self and cross attention in each of 11 transformer blocks
    expect(sd.filter((n) => n.opType === 'MultiHeadAttention').length).toBe(22);
    expect(sd.some((n) => n.opType === 'BiasSplitGelu')).toBe(false);
    const tiny = nodes(config('unet-sd1'), weights('unet-sd1')); // 4-wide heads
    expect(tiny.some((n) => n.opType === 'MultiHeadAttention')).toBe(false);
    expect(tiny.some((n) => n.opType === 'SkipLayerNormalization')).toBe(true);
  });

  it('an explicit set emits only those operators; an unknown name is refused', () => {
    const found = build({ ops: ['MultiHeadAttention'] });
    expect([...found.contrib.keys()]).toEqual(['MultiHeadAttention']);
    expect(() => build({ ops: ['FlashAttention' as 'Gelu'] })).toThrow(/unknown fused operator FlashAttention/);
    expect(() => build('rocm' as 'cpu')).toThrow(/unknown provider rocm/);
  });
});

describe('random UNet weights (bench/gpu.ts)', () => {
  it('have exactly the names and shapes of the torch fixtures\' state dicts (conv and linear projections)', () => {
    for (const net of ['unet-sd1', 'unet-sd2-inpaint']) {
      const shapes = unetWeightShapes(parseUnetConfig(config(net)));
      const torch = weights(net);
      expect(new Set(shapes.keys())).toEqual(new Set(torch.names()));
      for (const [name, shape] of shapes) expect([name, shape]).toEqual([name, torch.info(name)!.shape]);
    }
  });

  it('are the same bytes for the same seed, others for another, and build a UNet that runs', async () => {
    const shapes = unetWeightShapes(parseUnetConfig(config('unet-sd1')));
    const name = 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight';
    expect(new RandomWeights(shapes, 3).read(name)).toEqual(new RandomWeights(shapes, 3).read(name));
    expect(new RandomWeights(shapes, 4).read(name)).not.toEqual(new RandomWeights(shapes, 3).read(name));
    const ref = io('unet-sd1');
    const feeds = { sample: tensor(ref.get('sample')!), timestep: tensor(ref.get('timestep')!), encoder_hidden_states: tensor(ref.get('encoder_hidden_states')!) };
    const out = (await run(buildUnet(config('unet-sd1'), new RandomWeights(shapes, 3)), feeds)).out_sample!;
    expect(out.every(Number.isFinite)).toBe(true);
    expect(Math.max(...out.map(Math.abs))).toBeGreaterThan(0.01);
  });
});
