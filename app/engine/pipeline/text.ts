import type { EngineModel } from '../model/load.js';
import { intTensor, toFloat32 } from '../model/session.js';
import type { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';

export interface TextChunk {
  ids: number[];
  weights: number[];
}

/** Hidden states for one prompt: [sequence, dim], sequence = 77 × chunks. */
export interface PromptEmbedding {
  data: Float32Array;
  sequence: number;
}

/**
 * A1111's emphasis: scale each token's hidden state by its weight, then rescale the whole
 * chunk so its mean is what it was (modules/sd_hijack_clip.py, process_tokens:
 * `z *= multipliers; z *= original_mean / new_mean`).
 */
export function applyEmphasis(hidden: Float32Array, weights: readonly number[], dim: number): Float32Array {
  if (weights.every((w) => w === 1)) return hidden;
  let before = 0;
  for (const v of hidden) before += v;
  const out = new Float32Array(hidden.length);
  let after = 0;
  for (let t = 0; t < weights.length; t++) {
    const w = weights[t]!;
    for (let d = 0; d < dim; d++) {
      const v = Math.fround(hidden[t * dim + d]! * w);
      out[t * dim + d] = v;
      after += v;
    }
  }
  if (after !== 0) {
    const k = before / after;
    for (let i = 0; i < out.length; i++) out[i] = out[i]! * k;
  }
  return out;
}

/**
 * Prompt (and negative prompt when `withNegative`) → hidden states. Long prompts come as
 * several 77-token chunks, encoded separately and concatenated along the sequence axis; the
 * shorter of prompt and negative is padded with empty-prompt chunks so both have the same
 * length (as A1111 does), since they go through the UNet as one batch.
 */
export async function encodePrompts(
  model: EngineModel,
  tokenizer: ClipTokenizer,
  prompt: string,
  negative: string,
  withNegative: boolean,
  timings: Record<string, number>,
): Promise<{ cond: PromptEmbedding; uncond?: PromptEmbedding }> {
  const t0 = performance.now();
  const cond: TextChunk[] = tokenizer.encodeWeighted(prompt).chunks;
  const uncond: TextChunk[] | undefined = withNegative ? tokenizer.encodeWeighted(negative).chunks : undefined;
  if (uncond) {
    const empty = tokenizer.encodeWeighted('').chunks[0]!;
    while (cond.length < uncond.length) cond.push(empty);
    while (uncond.length < cond.length) uncond.push(empty);
  }
  timings.tokenize = performance.now() - t0;

  const t1 = performance.now();
  const all = [...cond, ...(uncond ?? [])];
  const te = model.layout.textEncoder;
  const session = await model.session(te.file, 'text_encoder/model.onnx');
  const ids = all.flatMap((c) => c.ids);
  const result = await session.run({ [te.idsName]: intTensor(ids, [all.length, 77], te.idsType) });
  const hidden = toFloat32(result[te.hiddenName]!);
  const dim = te.dim;
  const per = 77 * dim;
  const weighted = all.map((c, i) => applyEmphasis(hidden.slice(i * per, (i + 1) * per), c.weights, dim));
  const join = (chunks: Float32Array[]): PromptEmbedding => {
    const data = new Float32Array(chunks.length * per);
    chunks.forEach((c, i) => data.set(c, i * per));
    return { data, sequence: 77 * chunks.length };
  };
  timings.textEncoder = performance.now() - t1;
  const out: { cond: PromptEmbedding; uncond?: PromptEmbedding } = { cond: join(weighted.slice(0, cond.length)) };
  if (uncond) out.uncond = join(weighted.slice(cond.length));
  return out;
}
