import { A, type GraphBuilder } from './core.js';
import { biasSplitGeluFits, multiHeadAttentionFits } from './fused.js';

// Layers as plain ONNX opset-17 operators, each taking the weights under a diffusers /
// transformers module prefix (docs/graph-builder.md lists the operator choices), or as
// ONNX Runtime's fused com.microsoft operators where the graph was built for a provider that
// has them (g.fuses, fused.ts; docs/graph-builder.md "Fused operators"). Values are in the
// graph's compute type throughout.

const MS = 'com.microsoft';

/** torch.nn.Linear: x @ Wᵀ (+ b). The weight is stored transposed so MatMul takes it as is. */
export function linear(g: GraphBuilder, x: string, prefix: string, inFeatures?: number): string {
  let shape = g.weightShape(`${prefix}.weight`);
  // 1×1 convolutions standing in for linears (old VAE attention layouts) are the same matrix.
  if (shape.length === 4 && shape[2] === 1 && shape[3] === 1) shape = [shape[0]!, shape[1]!];
  if (shape.length !== 2) throw g.error(`weight ${prefix}.weight has shape [${shape.join(', ')}], expected a matrix`);
  if (inFeatures !== undefined && shape[1] !== inFeatures) throw g.error(`weight ${prefix}.weight takes ${shape[1]} features, expected ${inFeatures}`);
  const w = g.weight(`${prefix}.weight`, { dims: shape, transpose: true });
  const y = g.op1('MatMul', [x, w]);
  return g.hasWeight(`${prefix}.bias`) ? g.op1('Add', [y, g.weight(`${prefix}.bias`, { expect: [shape[0]!] })]) : y;
}

export function linearOut(g: GraphBuilder, prefix: string): number {
  return g.weightShape(`${prefix}.weight`)[0]!;
}

/** torch.nn.Conv2d; `pads` as ONNX [top, left, bottom, right] (default: kernel/2 all round). */
export function conv2d(g: GraphBuilder, x: string, prefix: string, opts: { stride?: number; pads?: number[]; inChannels?: number } = {}): string {
  const shape = g.weightShape(`${prefix}.weight`);
  if (shape.length !== 4) throw g.error(`weight ${prefix}.weight has shape [${shape.join(', ')}], expected a 4-D convolution kernel`);
  if (opts.inChannels !== undefined && shape[1] !== opts.inChannels) throw g.error(`weight ${prefix}.weight takes ${shape[1]} channels, expected ${opts.inChannels}`);
  const k = shape[2]!;
  const p = Math.floor(k / 2);
  const stride = opts.stride ?? 1;
  const inputs = [x, g.weight(`${prefix}.weight`)];
  if (g.hasWeight(`${prefix}.bias`)) inputs.push(g.weight(`${prefix}.bias`, { expect: [shape[0]!] }));
  return g.op1('Conv', inputs, { kernel_shape: A.ints([k, shape[3]!]), strides: A.ints([stride, stride]), pads: A.ints(opts.pads ?? [p, p, p, p]) });
}

export function convOut(g: GraphBuilder, prefix: string): number {
  return g.weightShape(`${prefix}.weight`)[0]!;
}

/**
 * torch.nn.GroupNorm over [B, C, H, W] (followed by SiLU with `withSilu`): InstanceNormalization
 * over [B, groups, C/groups·H·W] (what every runtime implements; ONNX's GroupNormalization
 * changed meaning between opsets), then the per-channel scale and shift — or one
 * com.microsoft.GroupNorm (NHWC, between transposes) with the SiLU as its activation where the
 * provider has it.
 */
export function groupNorm(g: GraphBuilder, x: string, prefix: string, groups: number, eps: number, withSilu = false): string {
  const c = g.weightShape(`${prefix}.weight`)[0]!;
  if (c % groups !== 0) throw g.error(`${prefix}: ${c} channels do not split into ${groups} groups`);
  if (g.fuses('GroupNorm')) {
    // ORT's CUDA kernel takes NHWC only (channels_last 0 is refused at run time) and float32
    // scale and shift whatever the input type (contrib_ops/cuda/diffusion/group_norm.cc):
    // transposes around it, and casts of the weights that ORT folds at load.
    const f32 = (w: string): string => (g.compute === 'float32' ? w : g.cast(w, 'float32'));
    const gamma = f32(g.weight(`${prefix}.weight`, { expect: [c] }));
    const beta = f32(g.weight(`${prefix}.bias`, { expect: [c] }));
    const nhwc = g.op1('Transpose', [x], { perm: A.ints([0, 2, 3, 1]) });
    const y = g.op('GroupNorm', [nhwc, gamma, beta], { epsilon: A.f(eps), groups: A.i(groups), activation: A.i(withSilu ? 1 : 0), channels_last: A.i(1) }, 1, MS)[0]!;
    return g.op1('Transpose', [y], { perm: A.ints([0, 3, 1, 2]) });
  }
  const normed = plainGroupNorm(g, x, prefix, groups, eps, c);
  return withSilu ? silu(g, normed) : normed;
}

function plainGroupNorm(g: GraphBuilder, x: string, prefix: string, groups: number, eps: number, c: number): string {
  const grouped = g.op1('Reshape', [x, g.ints([0, groups, -1])]);
  const normed = g.op1('InstanceNormalization', [grouped, g.constant(new Array<number>(groups).fill(1), [groups], g.compute), g.constant(new Array<number>(groups).fill(0), [groups], g.compute)], { epsilon: A.f(eps) });
  const back = g.op1('Reshape', [normed, g.op1('Shape', [x])]);
  const scaled = g.op1('Mul', [back, g.weight(`${prefix}.weight`, { expect: [c], dims: [c, 1, 1] })]);
  return g.op1('Add', [scaled, g.weight(`${prefix}.bias`, { expect: [c], dims: [c, 1, 1] })]);
}

/** torch.nn.LayerNorm over the last axis (ONNX LayerNormalization, opset 17). */
export function layerNorm(g: GraphBuilder, x: string, prefix: string, eps: number): string {
  const c = g.weightShape(`${prefix}.weight`)[0]!;
  return g.op1('LayerNormalization', [x, g.weight(`${prefix}.weight`, { expect: [c] }), g.weight(`${prefix}.bias`, { expect: [c] })], { axis: A.i(-1), epsilon: A.f(eps) });
}

/**
 * The residual step of a pre-norm transformer: `sum` = x + branch, `normed` = LayerNorm(sum) —
 * one com.microsoft.SkipLayerNormalization (its fourth output is the sum) where available.
 */
export function addLayerNorm(g: GraphBuilder, x: string, branch: string, prefix: string, eps: number): { sum: string; normed: string } {
  if (!g.fuses('SkipLayerNormalization')) {
    const sum = g.op1('Add', [x, branch]);
    return { sum, normed: layerNorm(g, sum, prefix, eps) };
  }
  const c = g.weightShape(`${prefix}.weight`)[0]!;
  const out = g.op('SkipLayerNormalization', [branch, x, g.weight(`${prefix}.weight`, { expect: [c] }), g.weight(`${prefix}.bias`, { expect: [c] })], { epsilon: A.f(eps) }, 4, MS);
  return { sum: out[3]!, normed: out[0]! };
}

export function silu(g: GraphBuilder, x: string): string {
  return g.op1('Mul', [x, g.op1('Sigmoid', [x])]);
}

/** Exact (erf) GELU, as torch.nn.functional.gelu. */
export function gelu(g: GraphBuilder, x: string): string {
  if (g.fuses('Gelu')) return g.op('Gelu', [x], {}, 1, MS)[0]!;
  const erf = g.op1('Erf', [g.op1('Mul', [x, g.scalar(Math.SQRT1_2)])]);
  return g.op1('Mul', [g.op1('Mul', [x, g.scalar(0.5)]), g.op1('Add', [erf, g.scalar(1)])]);
}

/** CLIP's quick_gelu: x·σ(1.702x). */
export function quickGelu(g: GraphBuilder, x: string): string {
  if (g.fuses('QuickGelu')) return g.op('QuickGelu', [x], { alpha: A.f(1.702) }, 1, MS)[0]!;
  return g.op1('Mul', [x, g.op1('Sigmoid', [g.op1('Mul', [x, g.scalar(1.702)])])]);
}

/**
 * Multi-head scaled dot-product attention over [B, S, heads·d] queries and [B, T, heads·d]
 * keys/values: softmax(q·kᵀ/√d + mask)·v, heads back to [B, S, heads·d]. The queries are scaled
 * before the product (as CLIP does; the same sum for diffusers' scaled scores). `upcast`
 * computes scores and softmax in float32 when the graph computes in float16 (diffusers'
 * upcast_attention, which SD 2.1 needs to stay finite in float16).
 */
export function attention(g: GraphBuilder, q: string, k: string, v: string, heads: number, width: number, opts: { mask?: string; upcast?: boolean } = {}): string {
  if (width % heads !== 0) throw g.error(`attention width ${width} does not split into ${heads} heads`);
  const d = width / heads;
  const upcast = opts.upcast === true && g.compute === 'float16';
  // MultiHeadAttention takes no causal mask input here and its float16 kernels keep scores in
  // float16 on some providers: masked or upcast attention stays plain.
  if (g.fuses('MultiHeadAttention') && multiHeadAttentionFits(g.fusedTarget, d) && !opts.mask && !upcast) {
    return g.op('MultiHeadAttention', [q, k, v], { num_heads: A.i(heads), scale: A.f(1 / Math.sqrt(d)) }, 1, MS)[0]!;
  }
  const split = g.ints([0, 0, heads, d]);
  const wide = (x: string): string => (upcast ? g.cast(x, 'float32') : x);
  const scale = upcast ? g.constant([1 / Math.sqrt(d)], [], 'float32') : g.scalar(1 / Math.sqrt(d));
  const qh = g.op1('Transpose', [g.op1('Reshape', [g.op1('Mul', [wide(q), scale]), split])], { perm: A.ints([0, 2, 1, 3]) });
  const kh = g.op1('Transpose', [g.op1('Reshape', [wide(k), split])], { perm: A.ints([0, 2, 3, 1]) });
  const vh = g.op1('Transpose', [g.op1('Reshape', [v, split])], { perm: A.ints([0, 2, 1, 3]) });
  let scores = g.op1('MatMul', [qh, kh]);
  if (opts.mask) scores = g.op1('Add', [scores, opts.mask]);
  let weights = g.op1('Softmax', [scores], { axis: A.i(-1) });
  if (upcast) weights = g.cast(weights, g.compute);
  const out = g.op1('Transpose', [g.op1('MatMul', [weights, vh])], { perm: A.ints([0, 2, 1, 3]) });
  return g.op1('Reshape', [out, g.ints([0, 0, width])]);
}

/** GELU(linear(x)): the bias add and the activation as one com.microsoft.BiasGelu where available. */
export function linearGelu(g: GraphBuilder, x: string, prefix: string, inFeatures?: number): string {
  if (!g.fuses('BiasGelu') || !g.hasWeight(`${prefix}.bias`)) return gelu(g, linear(g, x, prefix, inFeatures));
  const { product, out } = matmulOnly(g, x, prefix, inFeatures);
  return g.op('BiasGelu', [product, g.weight(`${prefix}.bias`, { expect: [out] })], {}, 1, MS)[0]!;
}

/**
 * diffusers' GEGLU: the projection to 2·D features split into hidden and gate, hidden · GELU(gate)
 * — the bias add, split and GELU as one com.microsoft.BiasSplitGelu where available.
 */
export function geglu(g: GraphBuilder, x: string, prefix: string, inFeatures: number): string {
  const out = linearOut(g, prefix);
  if (out % 2 !== 0) throw g.error(`${prefix} gives ${out} features, which do not split into hidden and gate`);
  if (g.fuses('BiasSplitGelu') && biasSplitGeluFits(g.fusedTarget, out, g.compute) && g.hasWeight(`${prefix}.bias`)) {
    const { product } = matmulOnly(g, x, prefix, inFeatures);
    return g.op('BiasSplitGelu', [product, g.weight(`${prefix}.bias`, { expect: [out] })], {}, 1, MS)[0]!;
  }
  const proj = linear(g, x, prefix, inFeatures);
  const [hidden, gate] = g.op('Split', [proj, g.ints([out / 2, out / 2])], { axis: A.i(-1) }, 2);
  return g.op1('Mul', [hidden!, gelu(g, gate!)]);
}

/** x @ Wᵀ without the bias (for the fused operators that add it). */
function matmulOnly(g: GraphBuilder, x: string, prefix: string, inFeatures?: number): { product: string; out: number } {
  const shape = g.weightShape(`${prefix}.weight`);
  if (shape.length !== 2) throw g.error(`weight ${prefix}.weight has shape [${shape.join(', ')}], expected a matrix`);
  if (inFeatures !== undefined && shape[1] !== inFeatures) throw g.error(`weight ${prefix}.weight takes ${shape[1]} features, expected ${inFeatures}`);
  return { product: g.op1('MatMul', [x, g.weight(`${prefix}.weight`, { dims: shape, transpose: true })]), out: shape[0]! };
}

/** [B, C, H, W] → [B, H·W, C] */
export function toTokens(g: GraphBuilder, x: string, channels: number): string {
  return g.op1('Reshape', [g.op1('Transpose', [x], { perm: A.ints([0, 2, 3, 1]) }), g.ints([0, -1, channels])]);
}

/** [B, H·W, C] → the shape of `like` ([B, C, H, W]) */
export function fromTokens(g: GraphBuilder, t: string, like: string): string {
  return g.op1('Reshape', [g.op1('Transpose', [t], { perm: A.ints([0, 2, 1]) }), g.op1('Shape', [like])]);
}

/** Nearest-neighbour ×2 (torch's F.interpolate(scale_factor=2, mode='nearest')). */
export function upsample2x(g: GraphBuilder, x: string): string {
  return g.op1('Resize', [x, '', g.constant([1, 1, 2, 2], [4], 'float32')], {
    mode: A.s('nearest'),
    coordinate_transformation_mode: A.s('asymmetric'),
    nearest_mode: A.s('floor'),
  });
}

/** diffusers' ResnetBlock2D (time_embedding_norm "default", output_scale_factor 1). */
export function resnet(g: GraphBuilder, x: string, prefix: string, opts: { temb?: string; groups: number; eps: number; inChannels: number }): { out: string; channels: number } {
  const out = convOut(g, `${prefix}.conv1`);
  let h = conv2d(g, groupNorm(g, x, `${prefix}.norm1`, opts.groups, opts.eps, true), `${prefix}.conv1`, { inChannels: opts.inChannels });
  if (opts.temb !== undefined) {
    const t = linear(g, silu(g, opts.temb), `${prefix}.time_emb_proj`);
    h = g.op1('Add', [h, g.op1('Unsqueeze', [t, g.ints([2, 3])])]);
  }
  h = conv2d(g, groupNorm(g, h, `${prefix}.norm2`, opts.groups, opts.eps, true), `${prefix}.conv2`, { inChannels: out });
  const shortcut = g.hasWeight(`${prefix}.conv_shortcut.weight`) ? conv2d(g, x, `${prefix}.conv_shortcut`, { inChannels: opts.inChannels }) : x;
  if (shortcut === x && opts.inChannels !== out) throw g.error(`${prefix} changes ${opts.inChannels} channels to ${out} but has no conv_shortcut`);
  return { out: g.op1('Add', [shortcut, h]), channels: out };
}

/** diffusers' get_timestep_embedding(flip_sin_to_cos, downscale_freq_shift) on a [B] float32 timestep: [B, dim] in float32. */
export function timestepEmbedding(g: GraphBuilder, t: string, dim: number, flipSinToCos: boolean, shift: number): string {
  const half = Math.floor(dim / 2);
  const freqs = Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / (half - shift)));
  const args = g.op1('Mul', [g.op1('Unsqueeze', [t, g.ints([1])]), g.constant(freqs, [1, half], 'float32')]);
  const sin = g.op1('Sin', [args]);
  const cos = g.op1('Cos', [args]);
  let emb = g.op1('Concat', flipSinToCos ? [cos, sin] : [sin, cos], { axis: A.i(-1) });
  if (dim % 2 === 1) emb = g.op1('Pad', [emb, g.ints([0, 0, 0, 1])]);
  return emb;
}
