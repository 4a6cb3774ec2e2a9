import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationRequest } from '../../app/contract/index.js';
import { A } from '../../app/engine/graph/core.js';
import { GraphBuilder, MemoryWeights, writeModel } from '../../app/engine/graph/index.js';
import { loadModel, runPipeline, type RgbaImage } from '../../app/engine/index.js';
import { splitControlNetHint } from '../../app/engine/model/controlnet-hint.js';
import type { EngineModel } from '../../app/engine/model/load.js';

// A ControlNet's conditioning-image path split off and run once per run (docs/engine.md,
// "ControlNet"; app/engine/model/controlnet-hint.ts): the two parts give the whole graph's
// residuals, the pipeline the same image, and graphs that cannot be split run whole.

const STARTER = path.resolve('resources/models/starter');
const FIXTURES = path.resolve('tests/fixtures/models');
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-cn-hint-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const wave = (n: number, k: number, scale = 0.5) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k) * scale);

/** Feeds for a ControlNet at batch 2 from its own input metadata (symbolic sizes: latent 8×8, image 64×64, 77 tokens). */
function feedsFor(session: ort.InferenceSession): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  const sizes: Record<string, number> = { batch: 2, timestep_batch: 2, height: 8, width: 8, image_height: 64, image_width: 64, sequence: 77 };
  for (const m of session.inputMetadata) {
    if (!m.isTensor) continue;
    const dims = m.shape.map((d) => (typeof d === 'number' ? d : (sizes[d] ?? 2)));
    const n = dims.reduce((a, b) => a * b, 1);
    if (m.name === 'conditioning_scale') feeds[m.name] = new ort.Tensor('float64', Float64Array.of(0.8), dims);
    else if (m.name.startsWith('timestep')) feeds[m.name] = new ort.Tensor('float32', new Float32Array(n).fill(500), dims);
    else feeds[m.name] = new ort.Tensor('float32', m.name === 'controlnet_cond' ? wave(n, 0.37, 1).map(Math.abs) : wave(n, 12.9898 + m.name.length), dims);
  }
  return feeds;
}

async function compareParts(file: string): Promise<void> {
  const split = splitControlNetHint(file, 'controlnet_cond');
  expect(split).toBeDefined();
  const opts: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all' };
  const whole = await ort.InferenceSession.create(file, opts);
  const hint = await ort.InferenceSession.create(split!.hint, opts);
  const main = await ort.InferenceSession.create(split!.main, opts);
  try {
    expect(main.inputNames).not.toContain('controlnet_cond');
    expect(hint.inputNames).toEqual(['controlnet_cond']);
    expect(hint.outputNames).toEqual(split!.outputs);
    const feeds = feedsFor(whole);
    const expected = await whole.run(feeds);
    const { controlnet_cond: cond, ...rest } = feeds;
    const hinted = await hint.run({ controlnet_cond: cond! });
    const got = await main.run({ ...rest, ...hinted });
    for (const name of whole.outputNames) {
      const a = expected[name]!.data as Float32Array;
      const b = got[name]!.data as Float32Array;
      expect(b.length).toBe(a.length);
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
      expect(worst, name).toBeLessThanOrEqual(1e-5);
    }
  } finally {
    await Promise.all([whole.release(), hint.release(), main.release()]);
  }
}

describe('splitting a ControlNet after its conditioning path', () => {
  it('the starter\'s scribble ControlNet: hint + main give the whole graph\'s residuals', async () => {
    await compareParts(path.join(STARTER, 'controlnet/model.onnx'));
  });

  it('the SD and SDXL fixture ControlNets split too', async () => {
    await compareParts(path.join(FIXTURES, 'controlnet-tiny/model.onnx'));
    await compareParts(path.join(FIXTURES, 'sdxl-controlnet-tiny/model.onnx'));
  });

  it('leaves a graph whole where controlnet_cond meets the latents directly', () => {
    const g = new GraphBuilder({ name: 'mixed', weights: new MemoryWeights('mixed'), dtype: 'float32' });
    const sample = g.input('sample', 'float32', ['batch', 3, 8, 8]);
    const cond = g.input('controlnet_cond', 'float32', ['batch', 3, 8, 8]);
    g.output(g.op1('Add', [sample, cond]), 'mid_block_res_sample', 'float32', ['batch', 3, 8, 8]);
    const file = writeModel(path.join(tmp, 'mixed'), g.finish()).file;
    expect(splitControlNetHint(file, 'controlnet_cond')).toBeUndefined();
  });

  it('leaves a graph whole when nothing depends on controlnet_cond alone', () => {
    const g = new GraphBuilder({ name: 'plain', weights: new MemoryWeights('plain'), dtype: 'float32' });
    const sample = g.input('sample', 'float32', ['batch', 3, 8, 8]);
    g.input('controlnet_cond', 'float32', ['batch', 3, 8, 8]);
    g.output(g.op1('Relu', [sample]), 'mid_block_res_sample', 'float32', ['batch', 3, 8, 8]);
    const file = writeModel(path.join(tmp, 'plain'), g.finish()).file;
    expect(splitControlNetHint(file, 'controlnet_cond')).toBeUndefined();
  });
});

/**
 * A ControlNet for the controlnet-unet-tiny fixture whose controlnet_cond meets the latents in
 * its first node (cond · mean(sample)), so it cannot be split: it must run whole.
 */
function unsplittableControlNet(dir: string): string {
  const w = new MemoryWeights('mixed-cn').set('proj.weight', Float32Array.from({ length: 16 * 4 }, (_, i) => Math.cos(i) / 4), [16, 4, 1, 1]);
  const g = new GraphBuilder({ name: 'mixed-cn', weights: w, dtype: 'float32' });
  const sample = g.input('sample', 'float32', ['batch', 4, 'height', 'width']);
  g.input('timestep', 'float32', ['batch']);
  g.input('encoder_hidden_states', 'float32', ['batch', 'sequence', 768]);
  const cond = g.input('controlnet_cond', 'float32', ['batch', 3, 'image_height', 'image_width']);
  const level = g.op1('ReduceMean', [g.op1('Mul', [cond, g.op1('ReduceMean', [sample], { keepdims: A.i(1) })])], { axes: A.ints([1, 2, 3]), keepdims: A.i(1) });
  const res = g.op1('Add', [g.op1('Conv', [sample, g.weight('proj.weight')]), level]);
  // the UNet's residual plan: two at latent size, then two and the mid block at half size
  const half = g.op1('AveragePool', [res], { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) });
  const dims = ['batch', 16, 'h', 'w'];
  [res, res, half, half].forEach((r, i) => g.output(r, `down_block_res_sample_${i}`, 'float32', dims));
  g.output(half, 'mid_block_res_sample', 'float32', dims);
  writeModel(dir, g.finish());
  return dir;
}

describe('the pipeline with a split ControlNet', () => {
  it('runs a ControlNet that cannot be split whole', async () => {
    const dir = unsplittableControlNet(path.join(tmp, 'mixed-cn'));
    const model = (await loadModel(path.join(FIXTURES, 'controlnet-unet-tiny'), { device: 'cpu', controlnets: [dir] })) as EngineModel;
    try {
      expect((await model.controlnet(dir)).hint).toBeUndefined();
      const map: RgbaImage = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 4).fill(200) };
      const request = GenerationRequest.parse({ model: 'x', prompt: 'a house', seed: 1, steps: 3, cfg: 5, sampler: 'euler', width: 64, height: 64, controls: [{ type: 'scribble', model: dir, image: { path: 'm.png' } }] });
      const withNet = (await runPipeline(model, request, { controls: [map] })).candidates[0]!.image;
      const without = (await runPipeline(model, { ...request, controls: [] }, {})).candidates[0]!.image;
      expect(Buffer.from(withNet.data).equals(Buffer.from(without.data))).toBe(false);
    } finally {
      await model.release();
    }
  });

  it('draws the starter\'s image the whole ControlNet draws (within 1 level of 255)', async () => {
    const controlnet = path.join(STARTER, 'controlnet');
    const split = (await loadModel(STARTER, { device: 'cpu', controlnets: [controlnet] })) as EngineModel;
    const whole = (await loadModel(STARTER, { device: 'cpu', controlnets: [controlnet] })) as EngineModel;
    try {
      expect((await split.controlnet(controlnet)).hint).toBeDefined();
      // the second model runs the graph as it is: the main part swapped back for the whole graph
      const net = await whole.controlnet(controlnet);
      await Promise.all([net.session.release(), net.hint!.session.release()]);
      net.session = await ort.InferenceSession.create(path.join(controlnet, 'model.onnx'), { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
      delete net.hint;

      const size = 256;
      const data = new Uint8Array(size * size * 4);
      for (let p = 0; p < size * size; p++) {
        const y = Math.floor(p / size);
        const v = Math.abs(y - 150) < 3 || Math.abs((p % size) - 90) < 3 ? 255 : 0;
        data.fill(v, p * 4, p * 4 + 3);
        data[p * 4 + 3] = 255;
      }
      const map: RgbaImage = { width: size, height: size, data };
      const request = GenerationRequest.parse({
        model: STARTER, prompt: 'a red house beside a lake under a sunset sky', seed: 3, steps: 4, cfg: 7, sampler: 'euler_a', width: size, height: size,
        controls: [{ type: 'scribble', model: controlnet, image: { path: 'map.png' }, weight: 0.9 }],
      });
      const a = (await runPipeline(split, request, { controls: [map] })).candidates[0]!.image;
      const b = (await runPipeline(whole, request, { controls: [map] })).candidates[0]!.image;
      let worst = 0;
      for (let i = 0; i < a.data.length; i++) worst = Math.max(worst, Math.abs(a.data[i]! - b.data[i]!));
      expect(worst).toBeLessThanOrEqual(1);
      // and the ControlNet acts: without it the picture differs
      const none = (await runPipeline(split, { ...request, controls: [] }, {})).candidates[0]!.image;
      let moved = 0;
      for (let i = 0; i < a.data.length; i++) moved = Math.max(moved, Math.abs(a.data[i]! - none.data[i]!));
      expect(moved).toBeGreaterThan(20);
    } finally {
      await Promise.all([split.release(), whole.release()]);
    }
  });
});
