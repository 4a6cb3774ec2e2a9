import { InvalidModelError } from '../model/errors.js';
import { A, GraphBuilder, type BuiltGraph, type FloatType } from './core.js';
import { addLayerNorm, attention, layerNorm, linear, linearGelu, quickGelu } from './nn.js';
import type { FusedChoice } from './fused.js';
import type { WeightSource } from './weights.js';

// transformers' CLIPTextModel (CLIP-L for SD 1.x, OpenCLIP-H in CLIP form for SD 2.x) with the
// outputs of an Optimum export: last_hidden_state, pooler_output (the final-norm state at the
// end-of-text token, found as the highest id as in CLIP's original configs) and the hidden
// states after the embeddings and after every layer — hidden_states.{L−1} is the penultimate
// one that "clip skip" uses (docs/graph-builder.md). With a projection (transformers'
// CLIPTextModelWithProjection: SDXL's OpenCLIP-bigG text_encoder_2) the pooled state goes
// through text_projection and is output as text_embeds, in place of pooler_output, as Optimum
// exports text_encoder_2 and app/engine/model/text-encoder-layout.ts reads it.

export interface ClipConfig {
  hiddenSize: number;
  layers: number;
  heads: number;
  intermediateSize: number;
  maxPositions: number;
  vocabSize: number;
  /**
   * Ids from here on are textual-inversion tokens appended after CLIP's own vocabulary
   * (`added_tokens_from`, written by checkpoint/embeddings.ts; default: vocab_size).
   */
  addedTokensFrom: number;
  act: 'quick_gelu' | 'gelu';
  eps: number;
  /** projection_dim of a CLIPTextModelWithProjection (text_embeds' width); undefined: no projection. */
  projectionDim?: number;
}

/** Whether a transformers config describes CLIPTextModelWithProjection (SDXL's text_encoder_2). */
export function withProjection(raw: Record<string, unknown>): boolean {
  return Array.isArray(raw.architectures) && raw.architectures.includes('CLIPTextModelWithProjection');
}

export function parseClipConfig(raw: Record<string, unknown>, part = 'text_encoder'): ClipConfig {
  const num = (key: string, fallback: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new InvalidModelError(part, `${part} config: ${key} must be a positive number`);
    return v;
  };
  const act = raw.hidden_act ?? 'quick_gelu';
  if (act !== 'quick_gelu' && act !== 'gelu') throw new InvalidModelError(part, `${part} config: hidden_act ${String(act)} is not supported (quick_gelu or gelu)`);
  return {
    hiddenSize: num('hidden_size', 768),
    layers: num('num_hidden_layers', 12),
    heads: num('num_attention_heads', 12),
    intermediateSize: num('intermediate_size', 3072),
    maxPositions: num('max_position_embeddings', 77),
    vocabSize: num('vocab_size', 49408),
    addedTokensFrom: num('added_tokens_from', num('vocab_size', 49408)),
    act,
    eps: num('layer_norm_eps', 1e-5),
    ...(withProjection(raw) ? { projectionDim: num('projection_dim', 768) } : {}),
  };
}

export interface ClipBuildOptions {
  dtype?: FloatType;
  compute?: FloatType;
  /** int32 (older exports) or int64 token ids. */
  idsType?: 'int32' | 'int64';
  /** Which hidden_states.{i} outputs to add (all, as Optimum; the penultimate only; none). */
  hiddenStates?: 'all' | 'penultimate' | 'none';
  /** Fused operators for a provider (fused.ts; default plain ONNX). The causal attention stays plain. */
  fused?: FusedChoice;
}

export function buildClipTextEncoder(config: Record<string, unknown>, weights: WeightSource, opts: ClipBuildOptions = {}): BuiltGraph {
  const cfg = parseClipConfig(config);
  const g = new GraphBuilder({ name: 'text_encoder', weights, dtype: opts.dtype ?? 'float32', ...(opts.compute ? { compute: opts.compute } : {}), ...(opts.fused ? { fused: opts.fused } : {}) });
  const d = cfg.hiddenSize;
  const p = 'text_model';
  const ids = g.input('input_ids', opts.idsType ?? 'int64', ['batch', 'sequence']);

  // embeddings: token + position (the first `sequence` rows of the position table)
  const tokens = g.op1('Gather', [g.weight(`${p}.embeddings.token_embedding.weight`, { expect: [cfg.vocabSize, d] }), ids], { axis: A.i(0) });
  const seq = g.op1('Slice', [g.op1('Shape', [ids]), g.ints([1]), g.ints([2])]);
  const positions = g.op1('Slice', [g.weight(`${p}.embeddings.position_embedding.weight`, { expect: [cfg.maxPositions, d] }), g.ints([0]), seq, g.ints([0])]);
  let x = g.op1('Add', [tokens, positions]);

  // causal mask: the lowest finite value above the diagonal, as transformers adds
  const n = cfg.maxPositions;
  const lowest = g.compute === 'float16' ? -65504 : -3.4028234663852886e38;
  const maskValues = new Float32Array(n * n);
  for (let r = 0; r < n; r++) for (let c = r + 1; c < n; c++) maskValues[r * n + c] = lowest;
  const full = g.constant(maskValues, [n, n], g.compute);
  const zeros = g.ints([0, 0]);
  const mask = g.op1('Slice', [full, zeros, g.op1('Concat', [seq, seq], { axis: A.i(0) }), g.ints([0, 1])]);

  const states = [x];
  for (let i = 0; i < cfg.layers; i++) {
    const l = `${p}.encoder.layers.${i}`;
    const h = layerNorm(g, x, `${l}.layer_norm1`, cfg.eps);
    const q = linear(g, h, `${l}.self_attn.q_proj`, d);
    const k = linear(g, h, `${l}.self_attn.k_proj`, d);
    const v = linear(g, h, `${l}.self_attn.v_proj`, d);
    const a = addLayerNorm(g, x, linear(g, attention(g, q, k, v, cfg.heads, d, { mask }), `${l}.self_attn.out_proj`, d), `${l}.layer_norm2`, cfg.eps);
    x = a.sum;
    const act = cfg.act === 'quick_gelu' ? quickGelu(g, linear(g, a.normed, `${l}.mlp.fc1`, d)) : linearGelu(g, a.normed, `${l}.mlp.fc1`, d);
    x = g.op1('Add', [x, linear(g, act, `${l}.mlp.fc2`, cfg.intermediateSize)]);
    states.push(x);
  }
  const last = layerNorm(g, x, `${p}.final_layer_norm`, cfg.eps);
  // pooled: the state at the highest token id (CLIP's end-of-text), first one if repeated — of
  // CLIP's own ids: an embedding's added tokens come after them and must not be taken for it
  // (SDXL pools text_encoder_2 for text_embeds)
  const idsF = g.cast(ids, 'float32');
  const own = g.op1('Where', [g.op1('Less', [idsF, g.constant([cfg.addedTokensFrom], [], 'float32')]), idsF, g.constant([-1], [], 'float32')]);
  const eos = g.op1('ArgMax', [own], { axis: A.i(-1), keepdims: A.i(1) });
  const pooled = g.op1('GatherND', [last, eos], { batch_dims: A.i(1) });

  if (cfg.projectionDim !== undefined) {
    const proj = g.weight('text_projection.weight', { expect: [cfg.projectionDim, d], transpose: true });
    g.output(g.op1('MatMul', [pooled, proj]), 'text_embeds', g.dtype, ['batch', cfg.projectionDim]);
  }
  g.output(last, 'last_hidden_state', g.dtype, ['batch', 'sequence', d]);
  if (cfg.projectionDim === undefined) g.output(pooled, 'pooler_output', g.dtype, ['batch', d]);
  const which = opts.hiddenStates ?? 'all';
  states.forEach((s, i) => {
    if (which === 'all' || (which === 'penultimate' && i === cfg.layers - 1)) g.output(s, `hidden_states.${i}`, g.dtype, ['batch', 'sequence', d]);
  });
  return g.finish({ 'atelier.network': cfg.projectionDim === undefined ? 'clip_text_model' : 'clip_text_model_with_projection', 'atelier.config': JSON.stringify(config) });
}
