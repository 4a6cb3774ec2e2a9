import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { InvalidModelError } from '../../app/engine/model/errors.js';
import { upcastFloat16Graph } from '../../app/engine/model/upcast.js';

// force_upcast for ONNX (app/engine/model/upcast.ts): a float16 graph rewritten to float32 is
// the same network; weights kept beside a graph are read in so the result stands alone.

const FIXTURES = path.resolve('tests/fixtures/models');

describe('upcastFloat16Graph', () => {
  it('makes a float16 VAE decoder take and give float32, without its overflow', async () => {
    const file = path.join(FIXTURES, 'sdxl-fp16-vae-tiny/vae_decoder/model.onnx');
    const session = await ort.InferenceSession.create(upcastFloat16Graph(file, 'vae_decoder/model.onnx'));
    try {
      expect(session.inputMetadata.map((m) => (m.isTensor ? m.type : ''))).toEqual(['float32']);
      expect(session.outputMetadata.map((m) => (m.isTensor ? m.type : ''))).toEqual(['float32']);
      const x = Float32Array.from({ length: 4 * 64 }, (_, i) => Math.sin(i) * 2);
      const out = (await session.run({ latent_sample: new ort.Tensor('float32', x, [1, 4, 8, 8]) })).sample!.data as Float32Array;
      expect(out.length).toBe(3 * 64 * 64);
      expect(out.every(Number.isFinite)).toBe(true);
    } finally {
      await session.release();
    }
  });

  it('reads external weights in (model.onnx_data) and leaves a float32 graph unchanged in effect', async () => {
    const file = path.join(FIXTURES, 'sd1-tiny-optimum/unet/model.onnx');
    const [original, rewritten] = await Promise.all([ort.InferenceSession.create(file), ort.InferenceSession.create(upcastFloat16Graph(file, 'unet/model.onnx'))]);
    try {
      const feeds = {
        sample: new ort.Tensor('float32', Float32Array.from({ length: 4 * 64 }, (_, i) => Math.cos(i)), [1, 4, 8, 8]),
        timestep: new ort.Tensor('float32', Float32Array.of(321), []),
        encoder_hidden_states: new ort.Tensor('float32', Float32Array.from({ length: 77 * 768 }, (_, i) => Math.sin(i * 0.01)), [1, 77, 768]),
      };
      const a = (await original.run(feeds)).out_sample!.data as Float32Array;
      const b = (await rewritten.run(feeds)).out_sample!.data as Float32Array;
      expect([...b]).toEqual([...a]);
    } finally {
      await Promise.all([original.release(), rewritten.release()]);
    }
  });

  it('names the part when the file is not an ONNX graph', () => {
    expect(() => upcastFloat16Graph(path.join(FIXTURES, 'sdxl-tiny/vae_decoder/config.json'), 'vae_decoder/model.onnx')).toThrow(InvalidModelError);
  });
});
