import type { EngineModel } from '../model/load.js';
import { intTensor, toFloat32 } from '../model/session.js';
import type { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';

export interface TextChunk {
  ids: number[];
  weights: number[];
}

/** Hidden states for one prompt: [sequence, dim], sequence = 77 × chunks, dim = all encoders' widths. */
export interface PromptEmbedding {
  data: Float32Array;
  sequence: number;
  /** SDXL: the pooled text_embeds of the first chunk. */
  pooled?: Float32Array;
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
 * Prompt (and negative prompt when `withNegative`) → hidden states, one tokenizer per text
 * encoder. Long prompts come as several 77-token chunks, encoded separately and concatenated
 * along the sequence axis; the shorter of prompt and negative is padded with empty-prompt
 * chunks so both have the same length (as A1111 does), since they go through the UNet as one
 * batch. SDXL (docs/engine.md): each encoder's penultimate hidden states get the emphasis on
 * their own and are concatenated along the width (768 + 1280); the pooled `text_embeds` is the
 * second encoder's for the first chunk (A1111's `zs[0].pooled`, diffusers' only chunk). An
 * empty negative prompt with `force_zeros_for_empty_prompt` is zeros, as diffusers makes it
 * when no negative prompt is given.
 */
export async function encodePrompts(
  model: EngineModel,
  tokenizers: ClipTokenizer[],
  prompt: string,
  negative: string,
  withNegative: boolean,
  timings: Record<string, number>,
): Promise<{ cond: PromptEmbedding; uncond?: PromptEmbedding }> {
  const t0 = performance.now();
  const encoders = model.layout.textEncoders;
  const zeroNegative = withNegative && model.layout.sdxl?.forceZerosForEmptyPrompt === true && negative.trim() === '';
  const cond: TextChunk[][] = tokenizers.map((t) => t.encodeWeighted(prompt).chunks);
  const uncond: TextChunk[][] | undefined = withNegative && !zeroNegative ? tokenizers.map((t) => t.encodeWeighted(negative).chunks) : undefined;
  const count = Math.max(...cond.map((c) => c.length), ...(uncond ?? []).map((c) => c.length));
  tokenizers.forEach((t, i) => {
    const empty = t.encodeWeighted('').chunks[0]!;
    for (const list of [cond[i]!, ...(uncond ? [uncond[i]!] : [])]) while (list.length < count) list.push(empty);
  });
  timings.tokenize = performance.now() - t0;

  const t1 = performance.now();
  const width = model.layout.textDim;
  const rows = count * (uncond ? 2 : 1);
  const data = new Float32Array(rows * 77 * width);
  let pooled: Float32Array | undefined;
  let offset = 0;
  for (const [e, te] of encoders.entries()) {
    const all = [...cond[e]!, ...(uncond ? uncond[e]! : [])];
    const te0 = performance.now();
    const session = await model.session(te.file, te.part);
    const result = await session.run({ [te.idsName]: intTensor(all.flatMap((c) => c.ids), [all.length, 77], te.idsType) });
    const hidden = toFloat32(result[te.hiddenName]!);
    const per = 77 * te.dim;
    all.forEach((c, r) => {
      const weighted = applyEmphasis(hidden.slice(r * per, (r + 1) * per), c.weights, te.dim);
      for (let tok = 0; tok < 77; tok++) data.set(weighted.subarray(tok * te.dim, (tok + 1) * te.dim), (r * 77 + tok) * width + offset);
    });
    if (te.pooledName) pooled = toFloat32(result[te.pooledName]!);
    offset += te.dim;
    await model.done(te.file);
    // Each encoder's own time, opening its session included where it is opened per run (SDXL).
    if (encoders.length > 1) timings[`textEncoder${e + 1}`] = performance.now() - te0;
  }
  timings.textEncoder = performance.now() - t1;
  const size = count * 77 * width;
  const pooledDim = model.layout.sdxl?.pooledDim ?? 0;
  const out: { cond: PromptEmbedding; uncond?: PromptEmbedding } = {
    cond: { data: data.slice(0, size), sequence: 77 * count, ...(pooled ? { pooled: pooled.slice(0, pooledDim) } : {}) },
  };
  if (uncond) out.uncond = { data: data.slice(size), sequence: 77 * count, ...(pooled ? { pooled: pooled.slice(count * pooledDim, (count + 1) * pooledDim) } : {}) };
  else if (zeroNegative) out.uncond = { data: new Float32Array(size), sequence: 77 * count, pooled: new Float32Array(pooledDim) };
  return out;
}
