// npm run bench:engine [-- --model DIR --steps N --size WxH --device D --batch N --sampler S --control --json]
// Per-stage times of one txt2img generation (after a one-step warm-up that opens the sessions):
// tokenize, text encoder, each UNet step (mean/min/max), VAE decode, total; plus model load
// time and the process's peak RSS. Without --model: the tiny sd1 fixture, and the bundled
// starter model when resources/models/starter holds one. --control adds the model's own
// ControlNet (its controlnet/ folder) on a synthetic scribble map, as the studio runs it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DeviceChoice, GenerationRequest, SamplerName } from '../app/contract/index.js';
import { loadModel, runPipeline } from '../app/engine/index.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', multiple: true },
    steps: { type: 'string', default: '20' },
    size: { type: 'string' },
    device: { type: 'string', default: 'auto' },
    batch: { type: 'string', default: '1' },
    sampler: { type: 'string', default: 'euler_a' },
    cfg: { type: 'string', default: '7' },
    control: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

const device = DeviceChoice.parse(values.device);
const sampler = SamplerName.parse(values.sampler);
const defaults = [path.resolve('tests/fixtures/models/sd1-tiny')];
const starter = path.resolve('resources/models/starter');
if (fs.existsSync(path.join(starter, 'model_index.json')) || fs.existsSync(path.join(starter, 'unet', 'model.onnx'))) defaults.push(starter);
const models = values.model ?? defaults;
let size: { width?: number; height?: number } = {};
if (values.size) {
  const m = /^(\d+)x(\d+)$/.exec(values.size);
  if (!m) throw new Error(`--size must be WxH, got ${values.size}`);
  size = { width: Number(m[1]), height: Number(m[2]) };
}

/** A horizon and a box as white lines on black: what the scribble preprocessor hands a ControlNet. */
function scribbleMap(width: number, height: number) {
  const data = new Uint8Array(width * height * 4);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  const ink = (x: number, y: number) => {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    data.fill(255, (y * width + x) * 4, (y * width + x) * 4 + 3);
  };
  for (let x = 0; x < width; x++) for (let w = -2; w <= 2; w++) ink(x, Math.round(height * 0.6 + 8 * Math.sin(x / 25)) + w);
  for (let t = 0; t < width / 4; t++) for (let w = -2; w <= 2; w++) {
    ink(Math.round(width / 2 + t), Math.round(height * 0.4) + w);
    ink(Math.round(width / 2 + t), Math.round(height * 0.6) + w);
  }
  return { width, height, data };
}

const ms = (v: number | undefined): string => (v === undefined ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(1));
const results = [];
for (const dir of models) {
  const controlnet = path.join(dir, 'controlnet');
  const withControl = values.control && fs.existsSync(path.join(controlnet, 'model.onnx'));
  if (values.control && !withControl) console.error(`${dir} has no controlnet/ folder: measuring without ControlNet`);
  const t0 = performance.now();
  const model = await loadModel(dir, { device, controlnets: withControl ? [controlnet] : [] });
  const loadMs = performance.now() - t0;
  const base = {
    model: dir,
    prompt: 'a watercolour painting of a red house on a hill, morning light',
    negativePrompt: 'blurry, ugly',
    seed: 1234,
    sampler,
    cfg: Number(values.cfg),
    batch: Number(values.batch),
    ...size,
    controls: withControl ? [{ type: 'scribble', model: controlnet, image: { path: controlnet } }] : [],
  };
  if (model.info.lcm && sampler !== 'lcm') base.sampler = 'lcm';
  const images = withControl ? { controls: [scribbleMap(size.width ?? model.info.defaultWidth, size.height ?? model.info.defaultHeight)] } : {};
  try {
    await runPipeline(model, GenerationRequest.parse({ ...base, steps: 1 }), images);
    const result = await runPipeline(model, GenerationRequest.parse({ ...base, steps: Number(values.steps) }), images);
    const t = result.timings;
    const image = result.candidates[0]!.image;
    results.push({
      model: path.relative(process.cwd(), dir) || dir,
      device: result.device,
      size: `${image.width}x${image.height}`,
      steps: Number(values.steps),
      batch: Number(values.batch),
      loadMs,
      tokenizeMs: t.tokenize,
      textEncoderMs: t.textEncoder,
      unetStepMeanMs: t.unetStepMean,
      unetStepMinMs: t.unetStepMin,
      unetStepMaxMs: t.unetStepMax,
      controlnetMs: t.controlnet,
      vaeDecodeMs: t.vaeDecode,
      totalMs: t.total,
    });
  } finally {
    await model.release();
  }
}
// ru_maxrss is in kilobytes on Linux and macOS (Node normalises it).
const peakRssMb = process.resourceUsage().maxRSS / 1024;

if (values.json) {
  console.log(JSON.stringify({ machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, platform: `${process.platform}-${process.arch}` }, peakRssMb, results }, null, 2));
} else {
  console.log(`machine: ${os.cpus().length}× ${os.cpus()[0]?.model ?? 'cpu'} (${process.platform}-${process.arch}), node ${process.version}`);
  for (const r of results) {
    console.log(`\n${r.model} on ${r.device}, ${r.size}, ${r.steps} steps × batch ${r.batch} (${sampler})`);
    console.log(`  load           ${ms(r.loadMs)} ms`);
    console.log(`  tokenize       ${ms(r.tokenizeMs)} ms`);
    console.log(`  text encoder   ${ms(r.textEncoderMs)} ms`);
    console.log(`  unet step      mean ${ms(r.unetStepMeanMs)} / min ${ms(r.unetStepMinMs)} / max ${ms(r.unetStepMaxMs)} ms`);
    if (r.controlnetMs !== undefined) console.log(`  controlnet     ${ms(r.controlnetMs)} ms total`);
    console.log(`  vae decode     ${ms(r.vaeDecodeMs)} ms`);
    console.log(`  total          ${ms(r.totalMs)} ms`);
  }
  console.log(`\npeak RSS ${peakRssMb.toFixed(0)} MB`);
}
