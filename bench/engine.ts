// npm run bench:engine [-- --model DIR --steps N --size WxH --device D --batch N --sampler S --control --refiner DIR[:SWITCH] --runs N --threads N --no-spin --json]
// Per-stage times of one txt2img generation (after a one-step warm-up that opens the sessions):
// tokenize, text encoder (SDXL: text_encoder and text_encoder_2 each, session opening included
// when they are opened per run, docs/engine.md "Memory"), each UNet step (mean/min/max), the
// refiner's steps with --refiner (SDXL base → refiner), VAE decode, total; plus model load time
// and the process's peak RSS. Without --model: the tiny sd1 fixture, and the bundled starter
// model when resources/models/starter holds one. --control adds the model's own ControlNet (its
// controlnet/ folder) on a synthetic scribble map, as the studio runs it.
// --runs N (default 3) measured runs per model: the stage lines are the run with the median
// total, followed by min / median of the totals over the runs, the process's CPU time per run
// and the load average (from other processes) before and after, so that a number taken on a
// shared machine says how shared it was (docs/performance.md keeps the tables). --threads N and
// --no-spin set ORT's intra-op threads and turn its spinning off: with one thread, the CPU time
// is the run's work, comparable across loads.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DeviceChoice, GenerationRequest, SamplerName } from '../app/contract/index.js';
import { loadModel, runPipeline } from '../app/engine/index.js';
import { configureThreads } from '../app/engine/model/session.js';

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
    runs: { type: 'string', default: '3' },
    threads: { type: 'string' },
    'no-spin': { type: 'boolean', default: false },
    refiner: { type: 'string' },
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

/** --refiner DIR[:SWITCH]: an SDXL refiner folder and the fraction of the steps the base runs (default 0.8). */
function refinerOption(spec: string | undefined): { model: string; switchAt: number } | undefined {
  if (!spec) return undefined;
  const m = /^(.*):(0?\.\d+)$/.exec(spec);
  return { model: path.resolve(m ? m[1]! : spec), switchAt: m ? Number(m[2]) : 0.8 };
}
const refiner = refinerOption(values.refiner);

const RUNS = Math.max(1, Number(values.runs));
// --threads 1 --no-spin: single-thread work, whose CPU time holds on a shared machine
if (values.threads || values['no-spin']) configureThreads({ ...(values.threads ? { intraOp: Number(values.threads) } : {}), ...(values['no-spin'] ? { spinning: false } : {}) });
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
/** Where and when: the commit measured (with `+` when the tree has changes), the ONNX Runtime version, the date. */
function provenance(): { commit: string; ort: string; date: string } {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    if (execFileSync('git', ['status', '--porcelain', '--untracked-files=no', 'app', 'bench'], { encoding: 'utf8' }).trim()) commit += '+';
  } catch {
    // not a checkout: the date and versions still say what was measured
  }
  const ort = (JSON.parse(fs.readFileSync(path.resolve('node_modules/onnxruntime-node/package.json'), 'utf8')) as { version: string }).version;
  return { commit, ort, date: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
}
const load = () => os.loadavg()[0]!.toFixed(2);

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
    ...(refiner ? { refiner } : {}),
  };
  if (model.info.lcm && sampler !== 'lcm') base.sampler = 'lcm';
  const images = withControl ? { controls: [scribbleMap(size.width ?? model.info.defaultWidth, size.height ?? model.info.defaultHeight)] } : {};
  try {
    await runPipeline(model, GenerationRequest.parse({ ...base, steps: 1 }), images);
    const loadBefore = load();
    const runs: { result: Awaited<ReturnType<typeof runPipeline>>; cpuMs: number }[] = [];
    for (let r = 0; r < RUNS; r++) {
      const cpu = process.cpuUsage();
      const result = await runPipeline(model, GenerationRequest.parse({ ...base, steps: Number(values.steps) }), images);
      const used = process.cpuUsage(cpu);
      runs.push({ result, cpuMs: (used.user + used.system) / 1000 });
    }
    const totals = runs.map((r) => r.result.timings.total!);
    const { result, cpuMs } = runs.find((r) => r.result.timings.total === median(totals))!;
    const t = result.timings;
    const net = withControl ? await model.controlnet(controlnet) : undefined;
    const image = result.candidates[0]!.image;
    const latent = { width: image.width / model.layout.vaeScaleFactor, height: image.height / model.layout.vaeScaleFactor };
    const unetBatch = Number(values.batch) * (Number(values.cfg) > 1 && !model.info.lcm ? 2 : 1);
    results.push({
      model: path.relative(process.cwd(), dir) || dir,
      family: model.info.family,
      refiner: refiner ? `${path.relative(process.cwd(), refiner.model) || refiner.model} from ${refiner.switchAt}` : undefined,
      device: result.device,
      size: `${image.width}x${image.height}`,
      steps: Number(values.steps),
      batch: Number(values.batch),
      loadMs,
      tokenizeMs: t.tokenize,
      textEncoderMs: t.textEncoder,
      textEncoder1Ms: t.textEncoder1,
      textEncoder2Ms: t.textEncoder2,
      refinerTextEncoderMs: t.refinerTextEncoder,
      unetStepMeanMs: t.unetStepMean,
      unetStepMinMs: t.unetStepMin,
      unetStepMaxMs: t.unetStepMax,
      unetSteps: t.unetSteps,
      refinerSteps: t.refinerSteps,
      refinerStepMeanMs: t.refinerStepMean,
      refinerStepMinMs: t.refinerStepMin,
      refinerStepMaxMs: t.refinerStepMax,
      controlnetMs: t.controlnet,
      vaeDecodeMs: t.vaeDecode,
      totalMs: t.total,
      shapes: `UNet sample ${unetBatch}×4×${latent.height}×${latent.width}, text ${unetBatch}×${model.layout.textDim} wide${net ? `, ControlNet image ${unetBatch}×3×${image.height}×${image.width}${net.hint ? ' (conditioning path once per run)' : ' (every step)'}` : ''}`,
      runs: RUNS,
      totalMinMs: Math.min(...totals),
      totalMedianMs: median(totals),
      cpuMs,
      loadAverage: `${loadBefore} → ${load()}`,
    });
  } finally {
    await model.release();
  }
}
// ru_maxrss is in kilobytes on Linux and macOS (Node normalises it).
const peakRssMb = process.resourceUsage().maxRSS / 1024;

if (values.json) {
  console.log(JSON.stringify({ machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, platform: `${process.platform}-${process.arch}` }, ...provenance(), peakRssMb, results }, null, 2));
} else {
  const p = provenance();
  console.log(`machine: ${os.cpus().length}× ${os.cpus()[0]?.model ?? 'cpu'} (${process.platform}-${process.arch}), node ${process.version}, onnxruntime-node ${p.ort}`);
  console.log(`commit ${p.commit}, ${p.date}`);
  for (const r of results) {
    console.log(`\n${r.model} (${r.family}) on ${r.device}, ${r.size}, ${r.steps} steps × batch ${r.batch} (${sampler})${r.refiner ? `, refiner ${r.refiner}` : ''}`);
    console.log(`  load           ${ms(r.loadMs)} ms`);
    console.log(`  tokenize       ${ms(r.tokenizeMs)} ms`);
    if (r.textEncoder2Ms !== undefined) {
      console.log(`  text encoder   ${ms(r.textEncoder1Ms)} ms`);
      console.log(`  text encoder 2 ${ms(r.textEncoder2Ms)} ms`);
    } else console.log(`  text encoder   ${ms(r.textEncoderMs)} ms`);
    console.log(`  unet step      mean ${ms(r.unetStepMeanMs)} / min ${ms(r.unetStepMinMs)} / max ${ms(r.unetStepMaxMs)} ms (${r.unetSteps ?? 0} steps)`);
    if (r.refinerSteps !== undefined) {
      console.log(`  refiner text   ${ms(r.refinerTextEncoderMs)} ms`);
      console.log(`  refiner step   mean ${ms(r.refinerStepMeanMs)} / min ${ms(r.refinerStepMinMs)} / max ${ms(r.refinerStepMaxMs)} ms (${r.refinerSteps} steps)`);
    }
    if (r.controlnetMs !== undefined) console.log(`  controlnet     ${ms(r.controlnetMs)} ms total`);
    console.log(`  vae decode     ${ms(r.vaeDecodeMs)} ms`);
    console.log(`  total          ${ms(r.totalMs)} ms (median of ${r.runs}; min ${ms(r.totalMinMs)} ms)`);
    console.log(`  cpu time       ${ms(r.cpuMs)} ms (all threads)`);
    console.log(`  shapes         ${r.shapes}`);
    console.log(`  load average   ${r.loadAverage} (1 min, before → after the measured runs)`);
  }
  console.log(`\npeak RSS ${peakRssMb.toFixed(0)} MB`);
}
