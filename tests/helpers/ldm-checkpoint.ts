import fs from 'node:fs';

// Synthetic single-file SD 1.x checkpoints in the original (CompVis) layout: every tensor with
// its shape and random float16 values. bench/models.ts writes a full-size SD 1.5 one; tests a
// small one whose sizes need no hints (32 norm groups, 768-wide CLIP, 8 heads).

export type Tensors = [string, number[]][];

function ldmResnet(t: Tensors, p: string, cin: number, cout: number, temb: number | false): void {
  if (temb) {
    t.push([`${p}.in_layers.0.weight`, [cin]], [`${p}.in_layers.0.bias`, [cin]], [`${p}.in_layers.2.weight`, [cout, cin, 3, 3]], [`${p}.in_layers.2.bias`, [cout]]);
    t.push([`${p}.emb_layers.1.weight`, [cout, temb]], [`${p}.emb_layers.1.bias`, [cout]]);
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

export interface LdmShape {
  /** UNet block channels (SD 1.5: 320, 640, 1280, 1280); attention in every level but the last. */
  unet: number[];
  /** VAE block channels (SD 1.5: 128, 256, 512, 512). */
  vae: number[];
  clipLayers: number;
  vocab: number;
}

export const SD15: LdmShape = { unet: [320, 640, 1280, 1280], vae: [128, 256, 512, 512], clipLayers: 12, vocab: 49408 };

/** Every tensor of an SD 1.x checkpoint in the original single-file layout, with its shape (768-wide CLIP-L text). */
export function ldmCheckpointTensors(shape: LdmShape = SD15): Tensors {
  const t: Tensors = [];
  const u = 'model.diffusion_model';
  const ch = shape.unet;
  const levels = ch.length;
  const temb = 4 * ch[0]!;
  t.push([`${u}.time_embed.0.weight`, [temb, ch[0]!]], [`${u}.time_embed.0.bias`, [temb]], [`${u}.time_embed.2.weight`, [temb, temb]], [`${u}.time_embed.2.bias`, [temb]]);
  t.push([`${u}.input_blocks.0.0.weight`, [ch[0]!, 4, 3, 3]], [`${u}.input_blocks.0.0.bias`, [ch[0]!]]);
  const skips = [ch[0]!];
  let prev = ch[0]!;
  ch.forEach((c, i) => {
    for (let j = 0; j < 2; j++) {
      const idx = 1 + i * 3 + j;
      ldmResnet(t, `${u}.input_blocks.${idx}.0`, prev, c, temb);
      if (i < levels - 1) ldmTransformer(t, `${u}.input_blocks.${idx}.1`, c);
      prev = c;
      skips.push(c);
    }
    if (i < levels - 1) {
      t.push([`${u}.input_blocks.${1 + i * 3 + 2}.0.op.weight`, [c, c, 3, 3]], [`${u}.input_blocks.${1 + i * 3 + 2}.0.op.bias`, [c]]);
      skips.push(c);
    }
  });
  const last = ch[levels - 1]!;
  ldmResnet(t, `${u}.middle_block.0`, last, last, temb);
  ldmTransformer(t, `${u}.middle_block.1`, last);
  ldmResnet(t, `${u}.middle_block.2`, last, last, temb);
  [...ch].reverse().forEach((c, i) => {
    for (let j = 0; j < 3; j++) {
      const idx = i * 3 + j;
      ldmResnet(t, `${u}.output_blocks.${idx}.0`, prev + skips.pop()!, c, temb);
      prev = c;
      if (i > 0) ldmTransformer(t, `${u}.output_blocks.${idx}.1`, c);
      if (j === 2 && i < levels - 1) t.push([`${u}.output_blocks.${idx}.${i > 0 ? 2 : 1}.conv.weight`, [c, c, 3, 3]], [`${u}.output_blocks.${idx}.${i > 0 ? 2 : 1}.conv.bias`, [c]]);
    }
  });
  t.push([`${u}.out.0.weight`, [ch[0]!]], [`${u}.out.0.bias`, [ch[0]!]], [`${u}.out.2.weight`, [4, ch[0]!, 3, 3]], [`${u}.out.2.bias`, [4]]);

  const v = 'first_stage_model';
  const vc = shape.vae;
  const vl = vc.length;
  const top = vc[vl - 1]!;
  const mid = (p: string) => {
    ldmResnet(t, `${p}.mid.block_1`, top, top, false);
    for (const n of ['norm', 'q', 'k', 'v', 'proj_out']) t.push([`${p}.mid.attn_1.${n}.weight`, n === 'norm' ? [top] : [top, top, 1, 1]], [`${p}.mid.attn_1.${n}.bias`, [top]]);
    ldmResnet(t, `${p}.mid.block_2`, top, top, false);
  };
  t.push([`${v}.encoder.conv_in.weight`, [vc[0]!, 3, 3, 3]], [`${v}.encoder.conv_in.bias`, [vc[0]!]]);
  let vp = vc[0]!;
  vc.forEach((c, i) => {
    for (let j = 0; j < 2; j++) {
      ldmResnet(t, `${v}.encoder.down.${i}.block.${j}`, vp, c, false);
      vp = c;
    }
    if (i < vl - 1) t.push([`${v}.encoder.down.${i}.downsample.conv.weight`, [c, c, 3, 3]], [`${v}.encoder.down.${i}.downsample.conv.bias`, [c]]);
  });
  mid(`${v}.encoder`);
  t.push([`${v}.encoder.norm_out.weight`, [top]], [`${v}.encoder.norm_out.bias`, [top]], [`${v}.encoder.conv_out.weight`, [8, top, 3, 3]], [`${v}.encoder.conv_out.bias`, [8]]);
  t.push([`${v}.quant_conv.weight`, [8, 8, 1, 1]], [`${v}.quant_conv.bias`, [8]], [`${v}.post_quant_conv.weight`, [4, 4, 1, 1]], [`${v}.post_quant_conv.bias`, [4]]);
  t.push([`${v}.decoder.conv_in.weight`, [top, 4, 3, 3]], [`${v}.decoder.conv_in.bias`, [top]]);
  mid(`${v}.decoder`);
  vp = top;
  for (let k = vl - 1; k >= 0; k--) {
    const c = vc[k]!;
    for (let j = 0; j < 3; j++) {
      ldmResnet(t, `${v}.decoder.up.${k}.block.${j}`, vp, c, false);
      vp = c;
    }
    if (k > 0) t.push([`${v}.decoder.up.${k}.upsample.conv.weight`, [c, c, 3, 3]], [`${v}.decoder.up.${k}.upsample.conv.bias`, [c]]);
  }
  t.push([`${v}.decoder.norm_out.weight`, [vc[0]!]], [`${v}.decoder.norm_out.bias`, [vc[0]!]], [`${v}.decoder.conv_out.weight`, [3, vc[0]!, 3, 3]], [`${v}.decoder.conv_out.bias`, [3]]);

  const c = 'cond_stage_model.transformer.text_model';
  t.push([`${c}.embeddings.token_embedding.weight`, [shape.vocab, 768]], [`${c}.embeddings.position_embedding.weight`, [77, 768]]);
  for (let l = 0; l < shape.clipLayers; l++) {
    const p = `${c}.encoder.layers.${l}`;
    for (const n of ['layer_norm1', 'layer_norm2']) t.push([`${p}.${n}.weight`, [768]], [`${p}.${n}.bias`, [768]]);
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) t.push([`${p}.self_attn.${n}.weight`, [768, 768]], [`${p}.self_attn.${n}.bias`, [768]]);
    t.push([`${p}.mlp.fc1.weight`, [3072, 768]], [`${p}.mlp.fc1.bias`, [3072]], [`${p}.mlp.fc2.weight`, [768, 3072]], [`${p}.mlp.fc2.bias`, [768]]);
  }
  t.push([`${c}.final_layer_norm.weight`, [768]], [`${c}.final_layer_norm.bias`, [768]]);
  return t;
}

/** Random float16 bit patterns of magnitude 2^-9..2^-5 (xorshift, deterministic), written tensor by tensor. */
export function writeSafetensors(file: string, tensors: Tensors): number {
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

