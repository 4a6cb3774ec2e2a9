// npm run bench:models — importing a full-size SD 1.5 single-file checkpoint (docs/models.md):
// a synthetic one (every tensor of SD 1.5's original layout, random float16 values, 2.1 GB) is
// written to the temporary folder (not kept), then imported by `importModel` in a child
// process, which reports its wall time per stage and its peak RSS; then a rank-32 kohya LoRA
// over every UNet attention projection is applied to the imported folder (and applied again:
// the cached set).
// BENCH_KEEP=1 keeps the files; BENCH_DIR chooses where they go.
// `-- --sdxl`: a full-size SDXL folder's generation memory and time instead (bench/models-sdxl.ts).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ldmCheckpointTensors, writeSafetensors, type Tensors } from '../tests/helpers/ldm-checkpoint.js';
import { benchSdxl } from './models-sdxl.js';
import { timedImport } from './timed-import.js';

/** A rank-32 kohya LoRA over every attention projection of the imported UNet (names from its weight index). */
function writeLora(file: string, modelDir: string): number {
  const index = JSON.parse(fs.readFileSync(path.join(modelDir, 'unet', 'model.onnx.weights.json'), 'utf8')) as { tensors: { weight: string; shape: number[] }[] };
  const tensors: Tensors = [];
  for (const t of index.tensors) {
    if (!/attn[12]\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(t.weight)) continue;
    const k = `lora_unet_${t.weight.slice(0, -7).replace(/\./g, '_')}`;
    tensors.push([`${k}.lora_down.weight`, [32, t.shape[1]!]], [`${k}.lora_up.weight`, [t.shape[0]!, 32]]);
  }
  writeSafetensors(file, tensors);
  return tensors.length / 2;
}

async function child(file: string, home: string): Promise<void> {
  const { imported, stages, total } = await timedImport(file, home, 'sd15-bench');
  const sizes: Record<string, number> = {};
  for (const part of ['text_encoder', 'unet', 'vae_encoder', 'vae_decoder']) sizes[part] = fs.statSync(path.join(imported.path, part, 'model.onnx_data')).size;
  delete stages.start;
  const importRssMiB = process.resourceUsage().maxRSS / 1024;
  const { applyLoras } = await import('../app/engine/checkpoint/index.js');
  const loraFile = path.join(path.dirname(file), 'lora.safetensors');
  const modules = writeLora(loraFile, imported.path);
  const l0 = performance.now();
  await applyLoras(imported.path, [{ file: loraFile, weight: 0.8 }], path.join(home, 'cache', 'lora'));
  const lora = (performance.now() - l0) / 1000;
  const l1 = performance.now();
  await applyLoras(imported.path, [{ file: loraFile, weight: 0.8 }], path.join(home, 'cache', 'lora'));
  const loraCached = (performance.now() - l1) / 1000;
  console.log(JSON.stringify({ total, stages, maxRssMiB: importRssMiB, sizes, autov2: imported.source.autov2, modules, lora, loraCached, loraRssMiB: process.resourceUsage().maxRSS / 1024 }));
}

async function main(): Promise<void> {
  if (process.argv.includes('--sdxl')) return benchSdxl();
  if (process.argv[2] === '--child') return child(process.argv[3]!, process.argv[4]!);
  const dir = fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'atelier-bench-models-'));
  try {
    const tensors = ldmCheckpointTensors();
    const file = path.join(dir, 'sd15-synthetic.safetensors');
    const t0 = performance.now();
    const bytes = writeSafetensors(file, tensors);
    console.log(`synthetic SD 1.5 checkpoint: ${tensors.length} tensors, ${(bytes / 2 ** 30).toFixed(2)} GiB written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const home = path.join(dir, 'home');
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.resolve('bench/models.ts'), '--child', file, home], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`the import failed (exit ${r.status})`);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      total: number; stages: Record<string, number>; maxRssMiB: number; sizes: Record<string, number>; modules: number; lora: number; loraCached: number; loraRssMiB: number;
    };
    console.log(`import (float16 weights, float32 compute, ControlNet-ready UNet): ${result.total.toFixed(1)} s, peak RSS ${(result.maxRssMiB / 1024).toFixed(2)} GiB`);
    for (const [stage, s] of Object.entries(result.stages)) console.log(`  ${stage.padEnd(13)} ${s.toFixed(1)} s${result.sizes[stage] ? `  ${(result.sizes[stage] / 2 ** 30).toFixed(2)} GiB` : ''}`);
    console.log(`LoRA (rank 32, ${result.modules} attention projections, strength 0.8) applied: ${result.lora.toFixed(1)} s; again (cached): ${(result.loraCached * 1000).toFixed(0)} ms; peak RSS ${(result.loraRssMiB / 1024).toFixed(2)} GiB`);
    console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length}, load average ${os.loadavg()[0]!.toFixed(1)}, ${new Date().toISOString().slice(0, 10)}`);
  } finally {
    if (process.env.BENCH_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
}

await main();
