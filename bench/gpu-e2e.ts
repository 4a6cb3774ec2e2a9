// End to end for `npm run bench:gpu` (bench/gpu.ts): a whole SD 1.5-topology model folder with
// random weights, made by the graph builder as `atelier models import` makes one (float16
// weights, float32-compute graphs: CLIP-L text encoder, the UNet, the VAE), run by
// Atelier's engine (loadModel + runPipeline: txt2img, CFG, Euler) at batch 1 and at batch 4 as
// one UNet batch — on a GPU provider through the graphs the studio builds for it
// (model/provider-graph.ts: float16 compute, the provider's fused operators) — and the same
// folder's weights run by bench/gpu_torch.py --e2e in PyTorch eager. GPU memory is sampled with nvidia-smi while each side runs (ORT reports none).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GenerationRequest } from '../app/contract/index.js';
import { buildClipTextEncoder, buildUnet, buildVaeDecoder, buildVaeEncoder, clipWeightShapes, parseClipConfig, parseUnetConfig, parseVaeConfig, RandomWeights, unetWeightShapes, vaeWeightShapes, writeGraphOnto, writeModel, type WeightIndex } from '../app/engine/graph/index.js';
import { loadModel, runPipeline, type PipelineResult } from '../app/engine/index.js';

export const CLIP_L = {
  architectures: ['CLIPTextModel'],
  model_type: 'clip_text_model',
  vocab_size: 49408,
  hidden_size: 768,
  intermediate_size: 3072,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  max_position_embeddings: 77,
  hidden_act: 'quick_gelu',
  layer_norm_eps: 1e-5,
  bos_token_id: 0,
  eos_token_id: 2,
};
/** --smoke (`--unet small`): two layers and the tokenizer's vocabulary; still 768 wide, the small UNet's cross-attention width. */
export const CLIP_SMALL = { ...CLIP_L, vocab_size: 1000, intermediate_size: 1536, num_hidden_layers: 2 };
/** SD 1.5's VAE (diffusers' AutoencoderKL defaults for it); force_upcast off, as SD 1.x pipelines run it in float16. */
export const VAE_SD = {
  _class_name: 'AutoencoderKL',
  in_channels: 3,
  out_channels: 3,
  latent_channels: 4,
  block_out_channels: [128, 256, 512, 512],
  layers_per_block: 2,
  norm_num_groups: 32,
  scaling_factor: 0.18215,
  sample_size: 512,
  force_upcast: false,
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
};
export const VAE_SMALL = { ...VAE_SD, block_out_channels: [16, 32, 32, 32], layers_per_block: 1, norm_num_groups: 8 };
const SCHEDULER = { _class_name: 'EulerDiscreteScheduler', beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000, prediction_type: 'epsilon', steps_offset: 1, timestep_spacing: 'leading' };
const TOKENIZER = path.resolve('tests/fixtures/tokenizer/sd1');

export interface E2eOptions {
  /** Names the folder: sd15 or small. */
  label: string;
  dir: string;
  device: string;
  /** Stored weights (the graphs compute in float32, as an import's). */
  dtype: 'float32' | 'float16';
  unet: Record<string, unknown>;
  clip: Record<string, unknown>;
  vae: Record<string, unknown>;
  size: number;
  steps: number;
  batches: number[];
  torch: boolean;
  python: string;
  log: (line: string) => void;
  /** A UNet folder bench/gpu.ts built already with the same config, seed and dtype: its weights linked, not written again. */
  unetDir?: string;
}

/** Builds (once) the model folder: text_encoder, unet, vae_encoder/decoder, tokenizer, scheduler. */
export function pipelineFolder(o: E2eOptions): string {
  const name = `pipeline-${o.label}-${o.dtype}-as-imported`;
  const dir = path.join(o.dir, name);
  if (fs.existsSync(path.join(dir, 'model_index.json'))) return dir;
  const t = performance.now();
  fs.rmSync(dir, { recursive: true, force: true });
  let bytes = 0;
  const part = (name: string, config: Record<string, unknown>, build: () => Parameters<typeof writeModel>[1]): void => {
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    fs.writeFileSync(path.join(dir, name, 'config.json'), JSON.stringify(config));
    bytes += writeModel(path.join(dir, name), build()).dataBytes;
  };
  const fp = { dtype: o.dtype, compute: 'float32' as const };
  part('text_encoder', o.clip, () => buildClipTextEncoder(o.clip, new RandomWeights(clipWeightShapes(parseClipConfig(o.clip)), 5), fp));
  if (o.unetDir) {
    // the UNet step bench's weights (same config, seed 1515 and dtype): 1.7 GB not written
    // twice; the graph over them is built as an import builds it
    fs.mkdirSync(path.join(dir, 'unet'), { recursive: true });
    for (const name of ['model.onnx_data', 'model.onnx.weights.json']) {
      try {
        fs.linkSync(path.join(o.unetDir, name), path.join(dir, 'unet', name));
      } catch {
        fs.copyFileSync(path.join(o.unetDir, name), path.join(dir, 'unet', name));
      }
    }
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'unet', 'model.onnx.weights.json'), 'utf8')) as WeightIndex;
    writeGraphOnto(buildUnet(o.unet, new RandomWeights(unetWeightShapes(parseUnetConfig(o.unet)), 1515), fp), index, path.join(dir, 'unet', 'model.onnx'));
    fs.writeFileSync(path.join(dir, 'unet', 'config.json'), JSON.stringify(o.unet));
  } else part('unet', o.unet, () => buildUnet(o.unet, new RandomWeights(unetWeightShapes(parseUnetConfig(o.unet)), 1515), fp));
  const vaeWeights = new RandomWeights(vaeWeightShapes(parseVaeConfig(o.vae)), 23);
  part('vae_encoder', o.vae, () => buildVaeEncoder(o.vae, vaeWeights, fp));
  part('vae_decoder', o.vae, () => buildVaeDecoder(o.vae, vaeWeights, fp));
  fs.cpSync(TOKENIZER, path.join(dir, 'tokenizer'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'scheduler'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'scheduler', 'scheduler_config.json'), JSON.stringify(SCHEDULER));
  // written last: its presence means the folder is whole
  fs.writeFileSync(path.join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'OnnxStableDiffusionPipeline', scheduler: ['diffusers', 'EulerDiscreteScheduler'] }));
  o.log(`built ${name}: ${(bytes / 2 ** 30).toFixed(2)} GiB in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return dir;
}

/** Samples the GPU's used memory (MiB) with nvidia-smi until stopped; undefined where there is none. */
export function gpuMemorySampler(): { stop(): number | undefined } {
  const probe = spawnSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits'], { encoding: 'utf8' });
  if (probe.status !== 0) return { stop: () => undefined };
  let peak = 0;
  const child: ChildProcess = spawn('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits', '-lms', '100'], { stdio: ['ignore', 'pipe', 'ignore'] });
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    for (const line of chunk.split('\n')) if (line.trim()) peak = Math.max(peak, Number(line.trim().split(',')[0]));
  });
  return {
    stop: () => {
      child.kill();
      return peak;
    },
  };
}

interface E2eRun {
  batch: number;
  candidatesPerCall: number;
  total_ms: number;
  text_ms: number;
  unet_step_ms: number;
  vae_ms: number;
  peak_gpu_mib?: number;
}

function summary(batch: number, r: PipelineResult, wall: number, peak: number | undefined): E2eRun {
  const t = r.timings;
  return { batch, candidatesPerCall: t.candidatesPerCall ?? 1, total_ms: wall, text_ms: t.textEncoder ?? 0, unet_step_ms: t.unetStepMean ?? 0, vae_ms: t.vaeDecode ?? 0, ...(peak !== undefined ? { peak_gpu_mib: peak } : {}) };
}

/** Atelier's runs: a 1-step warm-up, then 512² (or --size) txt2img, `steps` steps, CFG 7.5, Euler, each batch. */
export async function atelierE2e(dir: string, o: E2eOptions): Promise<{ load_ms: number; precision: string[]; runs: E2eRun[] }> {
  let t = performance.now();
  const model = await loadModel(dir, { device: o.device as 'auto' });
  const load = performance.now() - t;
  // which graphs the provider runs (float16 variants, or why not)
  const precision = model.info.notes.filter((n) => n.startsWith('precision:'));
  o.log(`Atelier end to end on ${model.device}: load ${(load / 1000).toFixed(1)} s (graphs for the provider built and optimised on a first load)${precision.length ? `; ${precision.join('; ')}` : ''}`);
  const request = (batch: number, steps: number) => GenerationRequest.parse({ model: dir, prompt: 'a watercolour of a lighthouse at dusk', negativePrompt: 'blurry', seed: 1, steps, cfg: 7.5, width: o.size, height: o.size, batch, sampler: 'euler' });
  const runs: E2eRun[] = [];
  try {
    await runPipeline(model, request(Math.max(...o.batches), 1), {}, { candidateBatch: Math.max(...o.batches) });
    for (const batch of o.batches) {
      const gpu = gpuMemorySampler();
      t = performance.now();
      const r = await runPipeline(model, request(batch, o.steps), {}, { candidateBatch: batch });
      const run = summary(batch, r, performance.now() - t, gpu.stop());
      runs.push(run);
      o.log(`  batch ${batch} (${run.candidatesPerCall} per UNet call): ${(run.total_ms / 1000).toFixed(2)} s — text ${run.text_ms.toFixed(0)} ms, UNet step ${run.unet_step_ms.toFixed(1)} ms, VAE ${run.vae_ms.toFixed(0)} ms${run.peak_gpu_mib ? `, GPU ${run.peak_gpu_mib.toFixed(0)} MiB (nvidia-smi, whole device)` : ''}`);
    }
  } finally {
    await model.release();
  }
  return { load_ms: load, precision, runs };
}

/** bench/gpu_torch.py --e2e on the folder's weights: CUDA for a GPU provider, the CPU for a CPU run. */
export function torchE2e(dir: string, o: E2eOptions): Record<string, unknown> {
  const args = ['bench/gpu_torch.py', '--e2e', dir, '--device', o.device === 'cpu' ? 'cpu' : 'cuda', '--dtype', o.dtype, '--steps', String(o.steps), '--size', String(o.size), '--batches', o.batches.join(',')];
  const run = spawnSync(o.python, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  const last = (run.stdout ?? '').trim().split('\n').at(-1) ?? '';
  try {
    const result = JSON.parse(last) as Record<string, unknown>;
    if (typeof result.missing === 'string') o.log(`PyTorch end to end: not measured — ${result.missing}`);
    else for (const r of result.runs as Array<Record<string, number>>) o.log(`PyTorch end to end, batch ${r.batch}: ${(r.total_ms! / 1000).toFixed(2)} s — text ${r.text_ms!.toFixed(0)} ms, UNet step ${r.unet_step_ms!.toFixed(1)} ms, VAE ${r.vae_ms!.toFixed(0)} ms${r.peak_gpu_mib ? `, peak ${r.peak_gpu_mib.toFixed(0)} MiB (torch allocator)` : ''}`);
    return result;
  } catch {
    const why = `bench/gpu_torch.py --e2e failed (${run.error?.message ?? `exit ${run.status}`}): ${(run.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`;
    o.log(`PyTorch end to end: not measured — ${why}`);
    return { missing: why };
  }
}
