import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WeightIndex } from '../../app/engine/graph/core.js';
import { type StudioService, createStudio } from '../../app/service/index.js';
import { lorasDir, preparePromptLoras } from '../../app/service/model-loras.js';
import { tempHome } from '../helpers/home.js';
import { type Tensors, writeSafetensors } from '../helpers/ldm-checkpoint.js';

// LoRA maths runs on a worker thread (app/service/asset-tasks.ts), not the service's main
// thread: while a set that takes seconds to apply is being patched, the studio's API still
// answers. The model is synthetic — eight 1280×1280 UNet projections in a weight index like
// the graph builder writes — and the LoRA a rank-128 kohya file for all of them.

const { home, cleanup } = tempHome('atelier-lora-thread-');
const WIDTH = 1280;
const RANK = 128;
const MODULES = Array.from({ length: 8 }, (_, i) => `down_blocks.${i % 2}.attentions.${Math.floor(i / 2)}.proj_in`);
const base = path.join(home, 'models', 'synthetic');
let studio: StudioService;

/** A part with float32 weights in model.onnx_data and the index lora-apply.ts reads. */
function writePart(dir: string, tensors: [string, number[]][]): void {
  fs.mkdirSync(dir, { recursive: true });
  const index: WeightIndex = { data: 'model.onnx_data', storage: 'float32', tensors: [] };
  const fd = fs.openSync(path.join(dir, 'model.onnx_data'), 'w');
  let offset = 0;
  for (const [weight, shape] of tensors) {
    const length = shape.reduce((a, b) => a * b, 1) * 4;
    fs.writeSync(fd, Buffer.alloc(length), 0, length, offset);
    index.tensors.push({ weight, shape, initializer: weight, dims: shape, transpose: false, offset, length });
    offset += length;
  }
  fs.closeSync(fd);
  fs.writeFileSync(path.join(dir, 'model.onnx.weights.json'), JSON.stringify(index));
}

beforeAll(async () => {
  writePart(path.join(base, 'unet'), MODULES.map((m) => [`${m}.weight`, [WIDTH, WIDTH]]));
  writePart(path.join(base, 'text_encoder'), [['text_model.final_layer_norm.weight', [8]]]);
  fs.mkdirSync(lorasDir(home), { recursive: true });
  const lora: Tensors = MODULES.flatMap((m): Tensors => {
    const k = `lora_unet_${m.replace(/\./g, '_')}`;
    return [[`${k}.lora_down.weight`, [RANK, WIDTH]], [`${k}.lora_up.weight`, [WIDTH, RANK]]];
  });
  writeSafetensors(path.join(lorasDir(home), 'big.safetensors'), lora);
  studio = await createStudio({ transport: 'web', home, starterDir: path.join(home, 'no-starter') });
});
afterAll(async () => {
  await studio.close();
  cleanup();
});

describe('LoRA patching off the main thread', () => {
  it('answers API calls while a large set is patched', async () => {
    const started = Date.now();
    let done = false;
    const patch = preparePromptLoras(home, base, 'a house <lora:big:0.7>', '');
    const settled = () => {
      done = true;
    };
    patch.then(settled, settled);
    // How long each call took from being wanted (a 20 ms timer) to its answer: a blocked
    // event loop delays the timer, so the whole turn is measured, not the call alone.
    const latencies: number[] = [];
    while (!done) {
      const t = Date.now();
      await new Promise((r) => setTimeout(r, 20));
      await studio.call('models.list', {});
      latencies.push(Date.now() - t - 20);
    }
    const prepared = await patch;
    const patchMs = Date.now() - started;
    // The patch is long enough that a main-thread one would have frozen the calls above.
    expect(patchMs).toBeGreaterThan(1000);
    // Calls kept coming (one per 250 ms at least, on a loaded 2-core machine: a main-thread
    // patch answers only between tensors, about ten in all) and most were prompt.
    const median = [...latencies].sort((a, b) => a - b)[Math.floor(latencies.length / 2)]!;
    expect(latencies.length, `${latencies.length} calls in ${patchMs} ms`).toBeGreaterThanOrEqual(patchMs / 250);
    expect(median).toBeLessThan(250);
    expect(prepared?.prompt).toBe('a house');
    // The patch really happened: the weights are no longer the zeros of the base.
    const index = JSON.parse(fs.readFileSync(path.join(prepared!.modelPath, 'unet', 'model.onnx.weights.json'), 'utf8')) as WeightIndex;
    const first = index.tensors[0]!;
    const bytes = Buffer.alloc(first.length);
    const fd = fs.openSync(path.join(prepared!.modelPath, 'unet', 'model.onnx_data'), 'r');
    fs.readSync(fd, bytes, 0, first.length, first.offset);
    fs.closeSync(fd);
    expect(new Float32Array(bytes.buffer, bytes.byteOffset, first.length / 4).some((v) => v !== 0)).toBe(true);
  }, 120_000);
});
