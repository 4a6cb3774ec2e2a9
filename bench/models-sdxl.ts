// npm run bench:models -- --sdxl [--dtype float32|float16] [--size 1024] [--steps 1] [--cfg 5] [--runs 1] [--model DIR]
// npm run bench:models -- --sdxl --import: converting a full-size SDXL single file instead
// Full-size SDXL memory and time on this machine (issue 14 item 4, docs/models.md "Full size"):
// an SDXL base folder of diffusers' real shapes (UNet 2.6 B parameters, CLIP-L, OpenCLIP-bigG,
// AutoencoderKL) with random weights is written by Atelier's graph builder to the temporary
// folder (not kept), then a child process loads it with per-phase sessions (text encoders and
// VAE opened only for their phase, LoadOptions.phaseSessions) and makes one generation (--runs N:
// N in a row, as the service does, the peak over all of them and the RSS after each); the
// parent samples the child's RSS from /proc every 250 ms and stops it past BENCH_RSS_LIMIT_GIB
// (default 18) so that the machine's other work is never pushed into swap or the OOM killer.
// BENCH_KEEP=1 keeps the files; BENCH_DIR chooses where they go; --model DIR writes the folder
// there once and reuses it on later runs (it is not removed).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeClipTokenizer } from '../app/engine/checkpoint/clip-vocab.js';
import { ldmUnetAliases } from '../app/engine/checkpoint/lora-names.js';
import { ldmCheckpointTensors, writeSafetensors, type Tensors } from '../tests/helpers/ldm-checkpoint.js';
import { clipWeightShapes, parseClipConfig, parseUnetConfig, parseVaeConfig, RandomWeights, unetWeightShapes, vaeWeightShapes, writePipelineGraphs, type FloatType } from '../app/engine/graph/index.js';
import { timedImport } from './timed-import.js';

// stabilityai/stable-diffusion-xl-base-1.0's configs (the parts the builder reads)
const UNET = {
  _class_name: 'UNet2DConditionModel', sample_size: 128, in_channels: 4, out_channels: 4, block_out_channels: [320, 640, 1280], layers_per_block: 2,
  down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'], up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
  attention_head_dim: [5, 10, 20], transformer_layers_per_block: [1, 2, 10], cross_attention_dim: 2048, use_linear_projection: true,
  addition_embed_type: 'text_time', addition_time_embed_dim: 256, projection_class_embeddings_input_dim: 2816, norm_num_groups: 32, flip_sin_to_cos: true, freq_shift: 0,
};
const CLIP_L = { architectures: ['CLIPTextModel'], vocab_size: 49408, hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, max_position_embeddings: 77, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5 };
const CLIP_G = { ...CLIP_L, architectures: ['CLIPTextModelWithProjection'], hidden_size: 1280, intermediate_size: 5120, num_hidden_layers: 32, num_attention_heads: 20, hidden_act: 'gelu', projection_dim: 1280 };
const VAE = { _class_name: 'AutoencoderKL', in_channels: 3, out_channels: 3, latent_channels: 4, block_out_channels: [128, 256, 512, 512], layers_per_block: 2, norm_num_groups: 32, scaling_factor: 0.13025, force_upcast: true, sample_size: 1024 };
const SCHEDULER = { _class_name: 'EulerDiscreteScheduler', beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000, steps_offset: 1, timestep_spacing: 'leading', interpolation_type: 'linear', prediction_type: 'epsilon', use_karras_sigmas: false };

const GiB = 2 ** 30;
const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};

/** Writes the random full-size SDXL folder; returns the bytes of each part's weights. */
function writeSdxl(dir: string, dtype: FloatType): Record<string, number> {
  const written = writePipelineGraphs(dir, {
    textEncoder: { config: CLIP_L, weights: new RandomWeights(clipWeightShapes(parseClipConfig(CLIP_L)), 1) },
    textEncoder2: { config: CLIP_G, weights: new RandomWeights(clipWeightShapes(parseClipConfig(CLIP_G)), 2) },
    unet: { config: UNET, weights: new RandomWeights(unetWeightShapes(parseUnetConfig(UNET)), 3) },
    vae: { config: VAE, weights: new RandomWeights(vaeWeightShapes(parseVaeConfig(VAE)), 4) },
  }, { dtype, compute: 'float32' });
  const bpe = path.resolve('resources/tokenizers/clip/bpe_simple_vocab_16e6.txt.gz');
  writeClipTokenizer(bpe, path.join(dir, 'tokenizer'), '<|endoftext|>');
  writeClipTokenizer(bpe, path.join(dir, 'tokenizer_2'), '!');
  fs.mkdirSync(path.join(dir, 'scheduler'));
  fs.writeFileSync(path.join(dir, 'scheduler', 'scheduler_config.json'), JSON.stringify(SCHEDULER));
  const ort = ['diffusers', 'OnnxRuntimeModel'];
  fs.writeFileSync(path.join(dir, 'model_index.json'), JSON.stringify({
    _class_name: 'ORTStableDiffusionXLPipeline', text_encoder: ort, text_encoder_2: ort, unet: ort, vae_encoder: ort, vae_decoder: ort,
    tokenizer: ['transformers', 'CLIPTokenizer'], tokenizer_2: ['transformers', 'CLIPTokenizer'], scheduler: ['diffusers', 'EulerDiscreteScheduler'], force_zeros_for_empty_prompt: true,
  }));
  return Object.fromEntries(Object.entries(written).map(([k, w]) => [k, w.dataBytes]));
}

/** The child: load with per-phase sessions, one generation, report. */
async function child(dir: string, size: number, steps: number, cfg: number, runs: number): Promise<void> {
  const { GenerationRequest } = await import('../app/contract/index.js');
  const { loadModel, runPipeline } = await import('../app/engine/index.js');
  const rss = () => process.memoryUsage().rss / GiB;
  const t0 = performance.now();
  const model = await loadModel(dir, { device: 'cpu', phaseSessions: true });
  const loadSeconds = (performance.now() - t0) / 1000;
  const afterLoad = rss();
  const request = GenerationRequest.parse({ model: dir, prompt: 'a castle on a hill at dawn', negativePrompt: 'blurry', seed: 1, steps, cfg, sampler: 'euler', width: size, height: size });
  let duringSteps = 0;
  const after: number[] = [];
  const totals: number[] = [];
  let first: Awaited<ReturnType<typeof runPipeline>> | undefined;
  for (let run = 0; run < runs; run++) {
    const result = await runPipeline(model, request, {}, { onProgress: () => (duringSteps = Math.max(duringSteps, rss())) });
    after.push(rss());
    totals.push(result.timings.total ?? 0);
    first ??= result;
  }
  await model.release();
  // the first run's stage timings; the later runs' totals beside them
  console.log(JSON.stringify({ loadSeconds, afterLoad, duringSteps, betweenRuns: after, totals, peak: process.resourceUsage().maxRSS / (GiB / 1024), timings: first!.timings, notes: model.info.notes }));
}

/**
 * Every tensor of an SDXL base single file in Stability's layout: the UNet's diffusers modules
 * renamed to the original paths (lora-names.ts), the VAE and CLIP-L as SD 1.5 files hold them
 * (the same shapes) under SDXL's prefixes, OpenCLIP-bigG in open_clip's names (fused q/k/v).
 */
function sdxlCheckpointTensors(): Tensors {
  const unet = unetWeightShapes(parseUnetConfig(UNET));
  const toLdm = new Map([...ldmUnetAliases(unet.keys())].map(([ldm, mod]) => [mod, ldm]));
  const t: Tensors = [];
  for (const [name, shape] of unet) {
    const dot = name.lastIndexOf('.');
    const ldm = toLdm.get(name.slice(0, dot));
    if (!ldm) throw new Error(`no original-layout name for ${name}`);
    t.push([`model.diffusion_model.${ldm}${name.slice(dot)}`, shape]);
  }
  for (const [name, shape] of ldmCheckpointTensors()) {
    if (name.startsWith('first_stage_model.')) t.push([name, shape]);
    else if (name.startsWith('cond_stage_model.transformer.')) t.push([`conditioner.embedders.0.transformer.${name.slice('cond_stage_model.transformer.'.length)}`, shape]);
  }
  const g = 'conditioner.embedders.1.model.';
  const d = CLIP_G.hidden_size;
  t.push([`${g}token_embedding.weight`, [CLIP_G.vocab_size, d]], [`${g}positional_embedding`, [77, d]], [`${g}text_projection`, [d, CLIP_G.projection_dim]], [`${g}logit_scale`, []]);
  for (let i = 0; i < CLIP_G.num_hidden_layers; i++) {
    const r = `${g}transformer.resblocks.${i}.`;
    t.push([`${r}ln_1.weight`, [d]], [`${r}ln_1.bias`, [d]], [`${r}attn.in_proj_weight`, [3 * d, d]], [`${r}attn.in_proj_bias`, [3 * d]], [`${r}attn.out_proj.weight`, [d, d]], [`${r}attn.out_proj.bias`, [d]]);
    t.push([`${r}ln_2.weight`, [d]], [`${r}ln_2.bias`, [d]], [`${r}mlp.c_fc.weight`, [CLIP_G.intermediate_size, d]], [`${r}mlp.c_fc.bias`, [CLIP_G.intermediate_size]], [`${r}mlp.c_proj.weight`, [d, CLIP_G.intermediate_size]], [`${r}mlp.c_proj.bias`, [d]]);
  }
  t.push([`${g}ln_final.weight`, [d]], [`${g}ln_final.bias`, [d]]);
  return t;
}

/** The import child: `importModel` on the synthetic file, stage times and peak RSS. */
async function importChild(file: string, home: string): Promise<void> {
  const { imported, stages, after, total } = await timedImport(file, home, 'sdxl-bench');
  // before the first graph: headers read, keys mapped, configs derived (`start`), then the file hashed;
  // after the last: the service's check that the engine opens the written folder
  stages['reading and detecting'] = stages.start ?? 0;
  delete stages.start;
  stages['checking the folder'] = after;
  const sizes = Object.fromEntries(['text_encoder', 'text_encoder_2', 'unet', 'vae_encoder', 'vae_decoder'].map((p) => [p, fs.statSync(path.join(imported.path, p, 'model.onnx_data')).size]));
  console.log(JSON.stringify({ total, stages, sizes, family: imported.family, peak: process.resourceUsage().maxRSS / (GiB / 1024) }));
}

async function benchImport(): Promise<void> {
  const root = fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'atelier-bench-sdxl-import-'));
  try {
    const tensors = sdxlCheckpointTensors();
    const file = path.join(root, 'sdxl-synthetic.safetensors');
    const t0 = performance.now();
    const bytes = writeSafetensors(file, tensors);
    console.log(`synthetic SDXL single file: ${tensors.length} tensors, ${(bytes / GiB).toFixed(2)} GiB written in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const proc = spawn(process.execPath, ['--import', 'tsx', path.resolve('bench/models.ts'), '--sdxl', '--import-child', file, path.join(root, 'home')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
    if (code !== 0) throw new Error(`the import failed (exit ${code})`);
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as { total: number; stages: Record<string, number>; sizes: Record<string, number>; family: string; peak: number };
    console.log(`import (${r.family}; float16 weights, float32 compute, ControlNet-ready UNet): ${r.total.toFixed(0)} s, peak RSS ${r.peak.toFixed(2)} GiB`);
    for (const [stage, sec] of Object.entries(r.stages)) console.log(`  ${stage.padEnd(15)} ${sec.toFixed(1)} s${r.sizes[stage] ? `  ${(r.sizes[stage] / GiB).toFixed(2)} GiB` : ''}`);
    console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length}, load average ${os.loadavg()[0]!.toFixed(1)}, ${new Date().toISOString().slice(0, 16)}Z`);
  } finally {
    if (process.env.BENCH_KEEP !== '1') fs.rmSync(root, { recursive: true, force: true });
    else console.log(`kept ${root}`);
  }
}

/** VmRSS of a process in GiB, from /proc (undefined once it is gone). */
function rssOf(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 2 ** 20 : undefined;
  } catch {
    return undefined; // the process has exited between two samples
  }
}

export async function benchSdxl(): Promise<void> {
  const ic = process.argv.indexOf('--import-child');
  if (ic > 0) return importChild(process.argv[ic + 1]!, process.argv[ic + 2]!);
  if (process.argv.includes('--import')) return benchImport();
  if (process.argv.includes('--child')) {
    const i = process.argv.indexOf('--child');
    return child(process.argv[i + 1]!, Number(process.argv[i + 2]), Number(process.argv[i + 3]), Number(process.argv[i + 4]), Number(process.argv[i + 5] ?? 1));
  }
  const dtype = arg('dtype', 'float32') as FloatType;
  const [size, steps, cfg, runs] = [Number(arg('size', '1024')), Number(arg('steps', '1')), Number(arg('cfg', '5')), Number(arg('runs', '1'))];
  const limit = Number(process.env.BENCH_RSS_LIMIT_GIB ?? 18);
  const reuse = arg('model', '');
  const root = reuse ? undefined : fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'atelier-bench-sdxl-'));
  const dir = reuse ? path.resolve(reuse) : path.join(root!, 'sdxl-random');
  try {
    const w0 = performance.now();
    if (reuse && fs.existsSync(path.join(dir, 'model_index.json'))) console.log(`reusing ${dir}`);
    else {
      const sizes = writeSdxl(dir, dtype);
      const total = Object.values(sizes).reduce((a, b) => a + b, 0);
      console.log(`full-size SDXL (random weights, ${dtype} stored, float32 compute) written in ${((performance.now() - w0) / 1000).toFixed(0)} s: ${(total / GiB).toFixed(2)} GiB (${Object.entries(sizes).map(([k, b]) => `${k} ${(b / GiB).toFixed(2)}`).join(', ')}); writer peak RSS ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GiB`);
    }
    const env = { ...process.env };
    delete env.ATELIER_ORT_CACHE; // the optimised-graph cache would write a second 10 GB copy
    const proc = spawn(process.execPath, ['--import', 'tsx', path.resolve('bench/models.ts'), '--sdxl', '--child', dir, String(size), String(steps), String(cfg), String(runs)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    let sampled = 0;
    let killed = false;
    const started = performance.now();
    const timer = setInterval(() => {
      const r = rssOf(proc.pid!);
      if (r === undefined) return;
      sampled = Math.max(sampled, r);
      if (r > limit && !killed) {
        killed = true;
        proc.kill('SIGKILL');
      }
    }, 250);
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
    clearInterval(timer);
    const wall = (performance.now() - started) / 1000;
    if (killed) throw new Error(`the generation passed ${limit} GiB RSS and was stopped (sampled peak ${sampled.toFixed(2)} GiB after ${wall.toFixed(0)} s)`);
    if (code !== 0) throw new Error(`the generation failed (exit ${code}); sampled peak RSS ${sampled.toFixed(2)} GiB`);
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as { loadSeconds: number; afterLoad: number; duringSteps: number; betweenRuns: number[]; totals: number[]; peak: number; timings: Record<string, number>; notes: string[] };
    console.log(`${runs} × ${size}² generation, ${steps} Euler step(s), CFG ${cfg}, per-phase sessions, CPU: ${wall.toFixed(0)} s in the child process`);
    console.log(`  peak RSS ${r.peak.toFixed(2)} GiB (sampled from /proc: ${sampled.toFixed(2)} GiB); after load ${r.afterLoad.toFixed(2)}, during UNet steps ${r.duringSteps.toFixed(2)}, after each run ${r.betweenRuns.map((b) => b.toFixed(2)).join(' / ')} GiB`);
    if (runs > 1) console.log(`  run totals ${r.totals.map((v) => (v / 1000).toFixed(1)).join(' / ')} s (the stages below: the first run)`);
    // every part is read for its metadata at load; the UNet session opens in the run (docs/engine.md, "Memory")
    console.log(`  load (parts read for their metadata) ${r.loadSeconds.toFixed(1)} s`);
    for (const [k, v] of Object.entries(r.timings)) console.log(`  ${k.padEnd(22)} ${k.startsWith('unetSteps') || k === 'candidatesPerCall' ? v : `${(v / 1000).toFixed(1)} s`}`);
    const t = r.timings;
    // what the run spent outside its timed stages: mostly opening the UNet session
    console.log(`  ${'rest (UNet opened, …)'.padEnd(22)} ${(((t.total ?? 0) - (t.textEncoder ?? 0) - (t.unetTotal ?? 0) - (t.vaeDecode ?? 0)) / 1000).toFixed(1)} s`);
    console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length}, ${(os.totalmem() / GiB).toFixed(0)} GiB, load average ${os.loadavg()[0]!.toFixed(1)}, ${new Date().toISOString().slice(0, 16)}Z`);
  } finally {
    if (root && process.env.BENCH_KEEP !== '1') fs.rmSync(root, { recursive: true, force: true });
    else if (root) console.log(`kept ${root}`);
  }
}
