import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loraDeltas, readLora, type ModelWeights } from '../../app/engine/checkpoint/index.js';

// LoRA arithmetic against hand-computed deltas (docs/models.md): LoHa's Hadamard product of
// two low-rank products, a LoCon convolution's flattened kernel, alpha/rank, and diffusers'
// attention-processor names.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-lora-unit-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(name: string, tensors: Record<string, { shape: number[]; values: number[] }>): string {
  const header: Record<string, unknown> = {};
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [k, t] of Object.entries(tensors)) {
    const data = Buffer.from(new Float32Array(t.values).buffer);
    header[k] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + data.length] };
    chunks.push(data);
    offset += data.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const file = path.join(tmp, name);
  fs.writeFileSync(file, Buffer.concat([len, json, ...chunks]));
  return file;
}

const model: ModelWeights = {
  unet: new Map<string, readonly number[]>([
    ['mid_block.attentions.0.transformer_blocks.0.attn1.to_q.weight', [2, 3]],
    ['up_blocks.0.resnets.0.conv1.weight', [2, 1, 2, 2]],
  ]),
  text_encoder: new Map(),
};

describe('LoRA deltas', () => {
  it('LoHa: alpha/rank · (w1_a @ w1_b) ⊙ (w2_a @ w2_b)', () => {
    const k = 'lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_q';
    const file = write('loha.safetensors', {
      [`${k}.hada_w1_a`]: { shape: [2, 1], values: [1, 2] },
      [`${k}.hada_w1_b`]: { shape: [1, 3], values: [1, 0, -1] },
      [`${k}.hada_w2_a`]: { shape: [2, 1], values: [3, 1] },
      [`${k}.hada_w2_b`]: { shape: [1, 3], values: [2, 2, 2] },
      [`${k}.alpha`]: { shape: [], values: [0.5] },
    });
    const { deltas, unmatched } = loraDeltas(readLora(file), model);
    expect(unmatched).toEqual([]);
    expect(deltas.map((d) => [d.network, d.weight])).toEqual([['unet', 'mid_block.attentions.0.transformer_blocks.0.attn1.to_q.weight']]);
    // w1 = [[1,0,-1],[2,0,-2]], w2 = [[6,6,6],[2,2,2]], product · 0.5/1
    expect(Array.from(deltas[0]!.values())).toEqual([3, 0, -3, 2, 0, -2]);
  });

  it('LoCon over a 2×2 kernel, and diffusers\' processor naming without alpha', () => {
    const file = write('locon.safetensors', {
      'lora_unet_up_blocks_0_resnets_0_conv1.lora_down.weight': { shape: [1, 1, 2, 2], values: [1, 2, 3, 4] },
      'lora_unet_up_blocks_0_resnets_0_conv1.lora_up.weight': { shape: [2, 1, 1, 1], values: [1, -1] },
      'lora_unet_up_blocks_0_resnets_0_conv1.alpha': { shape: [], values: [2] },
      'unet.mid_block.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.down.weight': { shape: [1, 3], values: [1, 1, 1] },
      'unet.mid_block.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.up.weight': { shape: [2, 1], values: [0.5, 2] },
    });
    const { deltas } = loraDeltas(readLora(file), model);
    const byWeight = Object.fromEntries(deltas.map((d) => [d.weight, Array.from(d.values())]));
    expect(byWeight['up_blocks.0.resnets.0.conv1.weight']).toEqual([2, 4, 6, 8, -2, -4, -6, -8]);
    expect(byWeight['mid_block.attentions.0.transformer_blocks.0.attn1.to_q.weight']).toEqual([0.5, 0.5, 0.5, 2, 2, 2]);
  });

  it('reports modules without a match when others match', () => {
    const file = write('partial.safetensors', {
      'lora_unet_up_blocks_0_resnets_0_conv1.lora_down.weight': { shape: [1, 1, 2, 2], values: [1, 1, 1, 1] },
      'lora_unet_up_blocks_0_resnets_0_conv1.lora_up.weight': { shape: [2, 1, 1, 1], values: [1, 1] },
      'lora_te_text_model_encoder_layers_23_mlp_fc1.lora_down.weight': { shape: [1, 2], values: [1, 1] },
      'lora_te_text_model_encoder_layers_23_mlp_fc1.lora_up.weight': { shape: [2, 1], values: [1, 1] },
    });
    expect(loraDeltas(readLora(file), model).unmatched).toEqual(['text_model_encoder_layers_23_mlp_fc1']);
  });
});
