// npm run bench:models — importing a full-size SD 1.5 single-file checkpoint (docs/models.md):
// a synthetic one (every tensor of SD 1.5's original layout, random float16 values, 2.1 GB) is
// written to the temporary folder (not kept), then imported by `importModel` in a child
// process, which reports its wall time per stage and its peak RSS; then a rank-32 kohya LoRA
// over every UNet attention projection is applied to the imported folder (and applied again:
// the cached set).
// BENCH_KEEP=1 keeps the files; BENCH_DIR chooses where they go.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

type Tensors = [string, number[]][];

function ldmResnet(t: Tensors, p: string, cin: number, cout: number, temb: boolean): void {
  if (temb) {
    t.push([`${p}.in_layers.0.weight`, [cin]], [`${p}.in_layers.0.bias`, [cin]], [`${p}.in_layers.2.weight`, [cout, cin, 3, 3]], [`${p}.in_layers.2.bias`, [cout]]);
    t.push([`${p}.emb_layers.1.weight`, [cout, 1280]], [`${p}.emb_layers.1.bias`, [cout]]);
    t.push([`${p}.out_layers.0.weight`, [cout]], [`${p}.out_layers.0.bias`, [cout]], [`${p}.out_layers.3.weight`, [cout, cout, 3, 3]], [`${p}.out_layers.3.bias`, [cout]]);
    if (cin !== cout) t.push([`${p}.skip_connection.weight`, [cout, cin, 1, 1]], [`${p}.skip_connection.bias`, [cout]]);
  } else {
    t.push([`${p}.norm1.weight`, [cin]], [`${p}.norm1.bias`, [cin]], [`${p}.conv1.weight`, [cout, cin, 3, 3]], [`${p}.conv1.bias`, [cout]]);
    t.push([`${p}.norm2.weight`, [cout]], [`${p}.norm2.bias`, [cout]], [`${p}.conv2.weight`, [cout, cout, 3, 3]], [`${p}.conv2.bias`, [cout]]);
    if (cin !== cout) t.push([`${p}.nin_shortcut.weight`, [cout, cin, 1, 1]], [`${p}.nin_shortcut.bias`, [cout]]);
  }
}

function ldmTransformer(t: Tensors, p: string, c: number): void {
  t.push([`${p}.norm.weight`, [c]], [`${p}.norm.bias`, [c]], [`${p}.proj_in.weight`, [c, c, 1, 1]], [`${p}.proj_in.bias`, [c]]);
  const b = `${p}.transformer_blocks.0`;
  for (const n of ['norm1', 'norm2', 'norm3']) t.push([`${b}.${n}.weight`, [c]], [`${b}.${n}.bias`, [c]]);
  for (const [a, kv] of [['attn1', c], ['attn2', 768]] as const) {
    t.push([`${b}.${a}.to_q.weight`, [c, c]], [`${b}.${a}.to_k.weight`, [c, kv]], [`${b}.${a}.to_v.weight`, [c, kv]], [`${b}.${a}.to_out.0.weight`, [c, c]], [`${b}.${a}.to_out.0.bias`, [c]]);
  }
  t.push([`${b}.ff.net.0.proj.weight`, [8 * c, c]], [`${b}.ff.net.0.proj.bias`, [8 * c]], [`${b}.ff.net.2.weight`, [c, 4 * c]], [`${b}.ff.net.2.bias`, [c]]);
  t.push([`${p}.proj_out.weight`, [c, c, 1, 1]], [`${p}.proj_out.bias`, [c]]);
}

/** Every tensor of an SD 1.5 checkpoint in the original single-file layout, with its shape. */
function sd15(): Tensors {
  const t: Tensors = [];
  const u = 'model.diffusion_model';
  const ch = [320, 640, 1280, 1280];
  t.push([`${u}.time_embed.0.weight`, [1280, 320]], [`${u}.time_embed.0.bias`, [1280]], [`${u}.time_embed.2.weight`, [1280, 1280]], [`${u}.time_embed.2.bias`, [1280]]);
  t.push([`${u}.input_blocks.0.0.weight`, [320, 4, 3, 3]], [`${u}.input_blocks.0.0.bias`, [320]]);
  const skips = [320];
  let prev = 320;
  ch.forEach((c, i) => {
    for (let j = 0; j < 2; j++) {
      const idx = 1 + i * 3 + j;
      ldmResnet(t, `${u}.input_blocks.${idx}.0`, prev, c, true);
      if (i < 3) ldmTransformer(t, `${u}.input_blocks.${idx}.1`, c);
      prev = c;
      skips.push(c);
    }
    if (i < 3) {
      t.push([`${u}.input_blocks.${1 + i * 3 + 2}.0.op.weight`, [c, c, 3, 3]], [`${u}.input_blocks.${1 + i * 3 + 2}.0.op.bias`, [c]]);
      skips.push(c);
    }
  });
  ldmResnet(t, `${u}.middle_block.0`, 1280, 1280, true);
  ldmTransformer(t, `${u}.middle_block.1`, 1280);
  ldmResnet(t, `${u}.middle_block.2`, 1280, 1280, true);
  [...ch].reverse().forEach((c, i) => {
    for (let j = 0; j < 3; j++) {
      const idx = i * 3 + j;
      ldmResnet(t, `${u}.output_blocks.${idx}.0`, prev + skips.pop()!, c, true);
      prev = c;
      if (i > 0) ldmTransformer(t, `${u}.output_blocks.${idx}.1`, c);
      if (j === 2 && i < 3) t.push([`${u}.output_blocks.${idx}.${i > 0 ? 2 : 1}.conv.weight`, [c, c, 3, 3]], [`${u}.output_blocks.${idx}.${i > 0 ? 2 : 1}.conv.bias`, [c]]);
    }
  });
  t.push([`${u}.out.0.weight`, [320]], [`${u}.out.0.bias`, [320]], [`${u}.out.2.weight`, [4, 320, 3, 3]], [`${u}.out.2.bias`, [4]]);

  const v = 'first_stage_model';
  const vc = [128, 256, 512, 512];
  const mid = (p: string) => {
    ldmResnet(t, `${p}.mid.block_1`, 512, 512, false);
    for (const n of ['norm', 'q', 'k', 'v', 'proj_out']) t.push([`${p}.mid.attn_1.${n}.weight`, n === 'norm' ? [512] : [512, 512, 1, 1]], [`${p}.mid.attn_1.${n}.bias`, [512]]);
    ldmResnet(t, `${p}.mid.block_2`, 512, 512, false);
  };
  t.push([`${v}.encoder.conv_in.weight`, [128, 3, 3, 3]], [`${v}.encoder.conv_in.bias`, [128]]);
  let vp = 128;
  vc.forEach((c, i) => {
    for (let j = 0; j < 2; j++) {
      ldmResnet(t, `${v}.encoder.down.${i}.block.${j}`, vp, c, false);
      vp = c;
    }
    if (i < 3) t.push([`${v}.encoder.down.${i}.downsample.conv.weight`, [c, c, 3, 3]], [`${v}.encoder.down.${i}.downsample.conv.bias`, [c]]);
  });
  mid(`${v}.encoder`);
  t.push([`${v}.encoder.norm_out.weight`, [512]], [`${v}.encoder.norm_out.bias`, [512]], [`${v}.encoder.conv_out.weight`, [8, 512, 3, 3]], [`${v}.encoder.conv_out.bias`, [8]]);
  t.push([`${v}.quant_conv.weight`, [8, 8, 1, 1]], [`${v}.quant_conv.bias`, [8]], [`${v}.post_quant_conv.weight`, [4, 4, 1, 1]], [`${v}.post_quant_conv.bias`, [4]]);
  t.push([`${v}.decoder.conv_in.weight`, [512, 4, 3, 3]], [`${v}.decoder.conv_in.bias`, [512]]);
  mid(`${v}.decoder`);
  vp = 512;
  for (let k = 3; k >= 0; k--) {
    const c = vc[k]!;
    for (let j = 0; j < 3; j++) {
      ldmResnet(t, `${v}.decoder.up.${k}.block.${j}`, vp, c, false);
      vp = c;
    }
    if (k > 0) t.push([`${v}.decoder.up.${k}.upsample.conv.weight`, [c, c, 3, 3]], [`${v}.decoder.up.${k}.upsample.conv.bias`, [c]]);
  }
  t.push([`${v}.decoder.norm_out.weight`, [128]], [`${v}.decoder.norm_out.bias`, [128]], [`${v}.decoder.conv_out.weight`, [3, 128, 3, 3]], [`${v}.decoder.conv_out.bias`, [3]]);

  const c = 'cond_stage_model.transformer.text_model';
  t.push([`${c}.embeddings.token_embedding.weight`, [49408, 768]], [`${c}.embeddings.position_embedding.weight`, [77, 768]]);
  for (let l = 0; l < 12; l++) {
    const p = `${c}.encoder.layers.${l}`;
    for (const n of ['layer_norm1', 'layer_norm2']) t.push([`${p}.${n}.weight`, [768]], [`${p}.${n}.bias`, [768]]);
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) t.push([`${p}.self_attn.${n}.weight`, [768, 768]], [`${p}.self_attn.${n}.bias`, [768]]);
    t.push([`${p}.mlp.fc1.weight`, [3072, 768]], [`${p}.mlp.fc1.bias`, [3072]], [`${p}.mlp.fc2.weight`, [768, 3072]], [`${p}.mlp.fc2.bias`, [768]]);
  }
  t.push([`${c}.final_layer_norm.weight`, [768]], [`${c}.final_layer_norm.bias`, [768]]);
  return t;
}

/** Random float16 bit patterns of magnitude 2^-9..2^-5 (xorshift, deterministic), written tensor by tensor. */
function writeSafetensors(file: string, tensors: Tensors): number {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, shape] of tensors) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[name] = { dtype: 'F16', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const fd = fs.openSync(file, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeSync(fd, len);
  fs.writeSync(fd, json);
  let s = 0x9e3779b9;
  const chunk = new Uint16Array(1 << 22);
  for (const [, shape] of tensors) {
    let left = shape.reduce((a, b) => a * b, 1);
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      for (let i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        chunk[i] = (s & 0x8000) | ((0x16 + ((s >>> 16) & 3)) << 10) | ((s >>> 4) & 0x3ff);
      }
      fs.writeSync(fd, new Uint8Array(chunk.buffer, 0, n * 2));
      left -= n;
    }
  }
  fs.closeSync(fd);
  return 8 + json.length + offset;
}

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
  const { importModel } = await import('../app/service/model-import.js');
  const stages: Record<string, number> = {};
  let last = performance.now();
  let stage = 'start';
  const t0 = last;
  const { imported } = await importModel({
    home,
    source: file,
    name: 'sd15-bench',
    onProgress: (p) => {
      if (p.stage === stage) return;
      const now = performance.now();
      stages[stage] = (now - last) / 1000;
      [stage, last] = [p.stage, now];
    },
  });
  const total = (performance.now() - t0) / 1000;
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
  if (process.argv[2] === '--child') return child(process.argv[3]!, process.argv[4]!);
  const dir = fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'atelier-bench-models-'));
  try {
    const tensors = sd15();
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
