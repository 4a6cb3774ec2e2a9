// npm run bench:gpu [-- --device auto|cpu|webgpu|cuda --size 512 --batch 2 --steps 10
//                       --dtype float16|float32 --unet sd15|small --dir DIR --no-torch --json
//                       --no-e2e --e2e-size 512 --e2e-steps 20 --batches 1,4 --no-cache --smoke]
// The device script of docs/performance.md ("GPU"): `--smoke` runs every part at toy sizes
// (small UNet/CLIP/VAE, 64², 2 steps) so that the CPU proves it end to end before a GPU is lent.
// UNet step time of Atelier's engine, plain ONNX graph against the fused one for the chosen
// provider (docs/graph-builder.md, "Fused operators"), on an SD 1.5-topology UNet with random
// weights made by the graph builder (860 M parameters; `--unet small` is a reduced topology for
// quick CPU runs, not SD 1.5). Both graphs are built once into --dir (default: the system's
// temp folder) and opened with fixed shapes and the optimised-graph cache
// (app/engine/model/session.ts). Then, where Python has torch, bench/gpu_torch.py runs the
// same UNet on the same weights and inputs in PyTorch eager (CUDA, or the CPU when --device is
// cpu), and the ratio is printed. Fused against plain and torch against plain are compared
// too: a fused operator that computes something else shows here, on the device it runs on.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildUnet, fusedFor, parseUnetConfig, RandomWeights, unetWeightShapes, writeModel, type FusedChoice } from '../app/engine/graph/index.js';
import { builderUnetDimensions, configureSessions, floatTensor, openSession, ort, toFloat32, type Session } from '../app/engine/model/session.js';
import { attentionCheck, biasSplitGeluCheck, convCheck, relDiff, residentSteps } from './gpu-device.js';
import { releaseDeviceIo } from '../app/engine/pipeline/device.js';
import { atelierE2e, CLIP_L, CLIP_SMALL, pipelineFolder, torchE2e, VAE_SD, VAE_SMALL } from './gpu-e2e.js';

const DEFAULT_DIR = path.join(os.tmpdir(), 'atelier-bench-gpu');
const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'auto' },
    size: { type: 'string', default: '512' },
    batch: { type: 'string', default: '2' },
    steps: { type: 'string', default: '10' },
    dtype: { type: 'string' },
    unet: { type: 'string', default: 'sd15' },
    dir: { type: 'string', default: DEFAULT_DIR },
    'no-torch': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    'no-e2e': { type: 'boolean', default: false },
    'no-cache': { type: 'boolean', default: false },
    'e2e-size': { type: 'string' },
    'e2e-steps': { type: 'string' },
    batches: { type: 'string', default: '1,4' },
  },
});
if (values.smoke) {
  // every part at toy sizes, the device as asked (cpu here; webgpu on lavapipe proves the device paths)
  Object.assign(values, { unet: 'small', size: values.size === '512' ? '64' : values.size, steps: '2', 'e2e-size': values['e2e-size'] ?? '64', 'e2e-steps': values['e2e-steps'] ?? '2', batches: values.batches === '1,4' ? '1,2' : values.batches, dir: values.dir === DEFAULT_DIR ? `${DEFAULT_DIR}-smoke` : values.dir });
}

const SD15 = {
  _class_name: 'UNet2DConditionModel',
  in_channels: 4,
  out_channels: 4,
  sample_size: 64,
  block_out_channels: [320, 640, 1280, 1280],
  layers_per_block: 2,
  norm_num_groups: 32,
  cross_attention_dim: 768,
  attention_head_dim: 8,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  flip_sin_to_cos: true,
  freq_shift: 0,
};
const SMALL = { ...SD15, block_out_channels: [64, 128, 256, 256], attention_head_dim: 4, layers_per_block: 1 };
const config = values.unet === 'small' ? SMALL : values.unet === 'sd15' ? SD15 : undefined;
if (!config) throw new Error(`--unet ${values.unet}: sd15 or small`);
const size = Number(values.size);
const batch = Number(values.batch);
const steps = Number(values.steps);
if (!(size >= 64 && size % 64 === 0) || !(batch >= 1) || !(steps >= 1)) throw new Error('--size must be a multiple of 64, --batch and --steps at least 1');
const latent = size / 8;
const SEQUENCE = 77;
/** The readable lines: stdout, or stderr with --json (stdout then holds the one JSON line). */
const log = (line: string): void => {
  if (values.json) console.error(line);
  else console.log(line);
};

/** Builds (once per variant) the UNet graph into the bench folder. */
function graph(dtype: 'float32' | 'float16', fused: FusedChoice): string {
  const name = `${values.unet}-${dtype}-${typeof fused === 'string' ? fused : 'custom'}`;
  const dir = path.join(values.dir, name);
  // the weights index is written last: its presence means the folder is whole
  if (!fs.existsSync(path.join(dir, 'model.onnx.weights.json'))) {
    const t = performance.now();
    const weights = new RandomWeights(unetWeightShapes(parseUnetConfig(config!)), 1515);
    const written = writeModel(dir, buildUnet(config!, weights, { dtype, fused }));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    log(`built ${name}: ${(written.dataBytes / 2 ** 30).toFixed(2)} GiB in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  return dir;
}

/** Deterministic inputs in [−1, 1) (uniform; the bench measures speed, not images). */
function values01(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

const inputs = {
  sample: { shape: [batch, 4, latent, latent], data: values01(batch * 4 * latent * latent, 1) },
  timestep: { shape: [batch], data: new Float32Array(batch).fill(501) },
  encoder_hidden_states: { shape: [batch, SEQUENCE, 768], data: values01(batch * SEQUENCE * 768, 2) },
};

interface Timing {
  open_s: number;
  first_ms: number;
  mean_ms: number;
  min_ms: number;
  median_ms: number;
}

async function time(session: Session, dtype: string, openSeconds: number): Promise<{ timing: Timing; out: Float32Array }> {
  const feeds = {
    sample: floatTensor(inputs.sample.data, inputs.sample.shape, dtype),
    timestep: new ort.Tensor('float32', inputs.timestep.data, inputs.timestep.shape),
    encoder_hidden_states: floatTensor(inputs.encoder_hidden_states.data, inputs.encoder_hidden_states.shape, dtype),
  };
  let t = performance.now();
  let out = toFloat32((await session.run(feeds)).out_sample!);
  const first = performance.now() - t;
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    t = performance.now();
    out = toFloat32((await session.run(feeds)).out_sample!);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  return { timing: { open_s: openSeconds, first_ms: first, mean_ms: mean, min_ms: times[0]!, median_ms: times[Math.floor(times.length / 2)]! }, out: Float32Array.from(out) };
}

async function main(): Promise<void> {
  fs.mkdirSync(values.dir!, { recursive: true });
  // the optimised-graph cache pays off when the bench runs again on the same machine; a one-off
  // run on a fresh GPU machine (--no-cache) would only write 1.7 GB per UNet session for nothing
  const cache = values['no-cache'] ? {} : { cacheDir: path.join(values.dir!, 'ort-cache') };
  configureSessions(cache);
  const tuning = { ...cache, freeDimensions: builderUnetDimensions({ batch, latentHeight: latent, latentWidth: latent, sequence: SEQUENCE }) };
  const results: Record<string, unknown> = { unet: values.unet, size, latent, batch, steps, machine: `${os.cpus()[0]?.model ?? '?'} ×${os.cpus().length}`, date: new Date().toISOString() };

  // The plain graph decides the provider for `auto` (float32 until the provider is known).
  const fallbacks: string[] = [];
  const guess = values.dtype ?? (values.device === 'cpu' ? 'float32' : 'float16');
  if (guess !== 'float32' && guess !== 'float16') throw new Error('--dtype float16 or float32');
  let plainDir = graph(guess, 'none');
  let t = performance.now();
  let plain = await openSession(path.join(plainDir, 'model.onnx'), 'unet', values.device, fallbacks, true, tuning);
  const device = plain.device;
  // CPU kernels are float32: an auto run that fell back to the CPU measures float32
  const dtype: 'float32' | 'float16' = values.dtype === 'float32' || values.dtype === 'float16' ? values.dtype : device === 'cpu' ? 'float32' : 'float16';
  if (dtype !== guess) {
    await plain.session.release();
    plainDir = graph(dtype, 'none');
    t = performance.now();
    plain = await openSession(path.join(plainDir, 'model.onnx'), 'unet', device, [], true, tuning);
  }
  Object.assign(results, { device, dtype, fallbacks });
  log(`device ${device}${fallbacks.length ? ` (tried: ${fallbacks.join('; ')})` : ''}, ${dtype}, UNet ${values.unet}, ${size}² (latent ${latent}²), batch ${batch}, ${steps} timed steps`);
  const p = await time(plain.session, dtype, (performance.now() - t) / 1000);
  await plain.session.release();
  results.plain = p.timing;
  log(`plain ONNX: open ${p.timing.open_s.toFixed(1)} s, first run ${p.timing.first_ms.toFixed(0)} ms, step mean ${p.timing.mean_ms.toFixed(1)} ms (min ${p.timing.min_ms.toFixed(1)}, median ${p.timing.median_ms.toFixed(1)})`);

  const choice = fusedFor(device);
  let fusedOut: Float32Array | undefined;
  if (choice !== 'none') {
    const fusedDir = fusedDirOf(dtype, choice);
    t = performance.now();
    try {
      const fused = await openSession(path.join(fusedDir, 'model.onnx'), 'unet', device, [], true, tuning);
      const f = await time(fused.session, dtype, (performance.now() - t) / 1000);
      await fused.session.release();
      fusedOut = f.out;
      results.fused = { ...f.timing, choice, rel_diff_vs_plain: relDiff(f.out, p.out) };
      log(`fused (${choice}): open ${f.timing.open_s.toFixed(1)} s, first run ${f.timing.first_ms.toFixed(0)} ms, step mean ${f.timing.mean_ms.toFixed(1)} ms (min ${f.timing.min_ms.toFixed(1)}); max |fused − plain| ${relDiff(f.out, p.out).toExponential(1)} of scale`);
    } catch (error) {
      // a provider that lacks a kernel PROVIDER_FUSED_OPS promised: the finding this bench is for
      results.fused = { choice, error: error instanceof Error ? error.message.split('\n')[0] : String(error) };
      log(`fused (${choice}): FAILED — ${String((results.fused as { error: string }).error)}`);
    }
  } else log(`fused: no fused operators for ${device}`);

  if (!values['no-torch']) results.torch = torchSide(plainDir, device, dtype, p.out);
  // the device-resident runs take the fused graph where it ran, and are compared with its own array-I/O output
  const fusedRan = fusedOut !== undefined;
  if (device !== 'cpu') await deviceParts(results, device, dtype, fusedRan ? fusedDirOf(dtype, choice) : plainDir, fusedOut ?? p.out);
  if (!values['no-e2e']) results.e2e = await endToEnd(device, dtype);
  const best = Math.min(p.timing.mean_ms, (results.fused as Timing | undefined)?.mean_ms ?? Infinity);
  const torch = results.torch as { mean_ms?: number } | undefined;
  if (torch?.mean_ms) {
    results.ratio = best / torch.mean_ms;
    log(`ratio Atelier (best of plain/fused) / PyTorch: ${(best / torch.mean_ms).toFixed(2)}`);
  }
  results.peak_rss_mib = process.resourceUsage().maxRSS / 1024;
  log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB (GPU memory: ORT does not report it; PyTorch's peak is above)`);
  if (values.json) console.log(JSON.stringify(results));
}

function fusedDirOf(dtype: 'float32' | 'float16', choice: FusedChoice): string {
  return graph(dtype, choice);
}

/**
 * On a GPU provider: the UNet step with its tensors left on the device (IO binding), with and
 * without graph capture, and the kernel checks: Conv by input channels, attention by head
 * width, float16 BiasSplitGelu.
 */
async function deviceParts(results: Record<string, unknown>, device: string, dtype: 'float32' | 'float16', graphDir: string, reference: Float32Array): Promise<void> {
  const dims = builderUnetDimensions({ batch, latentHeight: latent, latentWidth: latent, sequence: SEQUENCE });
  try {
    const resident = [];
    for (const capture of [false, true]) {
      const r = await residentSteps(path.join(graphDir, 'model.onnx'), device, dtype, dims, inputs, steps, capture, reference);
      resident.push(r);
      log(`device-resident UNet step${capture ? ', graph capture' : ''}: ${r.error ? `FAILED — ${r.error}` : `mean ${r.mean_ms!.toFixed(1)} ms; max |Δ| vs CPU-array I/O ${r.rel_diff_vs_cpu_io!.toExponential(1)} of scale`}`);
    }
    results.resident = resident;
  } finally {
    await releaseDeviceIo();
  }
  const wrong = await convCheck(values.dir!, device);
  results.conv_wrong_channels = wrong;
  log(`Conv 3×3 on ${device} against the CPU: ${wrong.length ? `WRONG for ${wrong.join(', ')} input channels` : 'equal for 1–12 and 16 input channels'}`);
  // the kernels fused.ts keeps out of float16 WebGPU graphs for what lavapipe showed
  const attn = await attentionCheck(values.dir!, device);
  results.attention_by_head_width = attn;
  const e = (v: number | undefined) => (v === undefined ? '–' : v.toExponential(1));
  for (const r of attn) log(`attention, ${r.head_width}-wide heads, max |Δ| of scale vs CPU float32: ${r.error ? `FAILED — ${r.error}` : `MultiHeadAttention float32 ${e(r.fused_f32)}, float16 ${e(r.fused_f16)}; plain float16 ${e(r.plain_f16)}`}`);
  const bsg = await biasSplitGeluCheck(values.dir!, device);
  results.bias_split_gelu_f16 = bsg;
  log(`BiasSplitGelu float16 on ${device}: ${bsg.runs ? `runs, max |Δ| ${e(bsg.rel_diff)} of scale vs CPU float32` : `FAILED — ${bsg.error}`}`);
}

/** The whole pipeline, Atelier then PyTorch, on one random-weight SD 1.5-topology folder made as an import makes one (bench/gpu-e2e.ts). */
async function endToEnd(device: string, dtype: 'float32' | 'float16'): Promise<Record<string, unknown>> {
  const smoke = values.unet === 'small';
  const o = {
    label: values.unet!,
    dir: values.dir!,
    device,
    dtype,
    unet: config!,
    clip: smoke ? CLIP_SMALL : CLIP_L,
    vae: smoke ? VAE_SMALL : VAE_SD,
    size: Number(values['e2e-size'] ?? 512),
    steps: Number(values['e2e-steps'] ?? 20),
    batches: values.batches!.split(',').map(Number),
    torch: !values['no-torch'],
    python: process.env.PYTHON ?? 'python3',
    log,
    // the UNet step bench's plain graph: the pipeline's UNet has its very weights
    unetDir: graph(dtype, 'none'),
  };
  if (!(o.size >= 64 && o.size % 64 === 0) || !(o.steps >= 1) || !o.batches.every((b) => b >= 1)) throw new Error('--e2e-size a multiple of 64, --e2e-steps and --batches at least 1');
  const dir = pipelineFolder(o);
  const atelier = await atelierE2e(dir, o);
  const out: Record<string, unknown> = { size: o.size, steps: o.steps, atelier };
  if (!o.torch) return out;
  const torch = torchE2e(dir, o);
  out.torch = torch;
  const runs = torch.runs as Array<{ batch: number; total_ms: number; unet_step_ms: number }> | undefined;
  if (runs) {
    out.ratio = atelier.runs.map((a) => {
      const t = runs.find((r) => r.batch === a.batch)!;
      return { batch: a.batch, total: a.total_ms / t.total_ms, unet_step: a.unet_step_ms / t.unet_step_ms };
    });
    for (const r of out.ratio as Array<{ batch: number; total: number; unet_step: number }>) log(`ratio Atelier / PyTorch end to end, batch ${r.batch}: ${r.total.toFixed(2)} (UNet step ${r.unet_step.toFixed(2)})`);
  }
  return out;
}

/** bench/gpu_torch.py on the same weights and inputs: CUDA for a GPU provider, the CPU for a CPU run. */
function torchSide(graphDir: string, device: string, dtype: string, atelierOut: Float32Array): Record<string, unknown> {
  const spec: Record<string, { file: string; shape: number[] }> = {};
  for (const [name, v] of Object.entries(inputs)) {
    fs.writeFileSync(path.join(values.dir, `${name}.f32`), new Uint8Array(v.data.buffer));
    spec[name] = { file: `${name}.f32`, shape: v.shape };
  }
  fs.writeFileSync(path.join(values.dir, 'inputs.json'), JSON.stringify(spec));
  const output = path.join(values.dir, 'torch-out.f32');
  fs.rmSync(output, { force: true });
  const args = ['bench/gpu_torch.py', '--graph', graphDir, '--config', path.join(graphDir, 'config.json'), '--inputs', path.join(values.dir, 'inputs.json'), '--output', output, '--device', device === 'cpu' ? 'cpu' : 'cuda', '--dtype', dtype, '--steps', String(steps)];
  const run = spawnSync(process.env.PYTHON ?? 'python3', args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  const last = (run.stdout ?? '').trim().split('\n').at(-1) ?? '';
  let result: Record<string, unknown>;
  try {
    result = JSON.parse(last) as Record<string, unknown>;
  } catch {
    result = { missing: `bench/gpu_torch.py failed (${run.error?.message ?? `exit ${run.status}`}): ${(run.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}` };
  }
  if (typeof result.missing === 'string') {
    log(`PyTorch: not measured — ${result.missing}`);
    return result;
  }
  const out = new Float32Array(new Uint8Array(fs.readFileSync(output)).buffer);
  result.rel_diff_vs_atelier = out.length === atelierOut.length ? relDiff(out, atelierOut) : `length ${out.length} vs ${atelierOut.length}`;
  log(`PyTorch ${String(result.torch)} eager on ${String(result.device)} (${dtype}${result.sdpa ? ', SDPA attention' : ''}): first ${Number(result.first_ms).toFixed(0)} ms, step mean ${Number(result.mean_ms).toFixed(1)} ms (min ${Number(result.min_ms).toFixed(1)})${result.peak_gpu_mib ? `, peak GPU ${Number(result.peak_gpu_mib).toFixed(0)} MiB` : ''}; max |torch − Atelier| ${typeof result.rel_diff_vs_atelier === 'number' ? result.rel_diff_vs_atelier.toExponential(1) : String(result.rel_diff_vs_atelier)} of scale`);
  return result;
}

await main();
