import type { FloatType } from './core.js';

// Fused operators per ONNX Runtime provider (docs/graph-builder.md, "Fused operators"). The
// builder emits one of these com.microsoft contrib operators where the graph's provider has a
// kernel for it at the graph's compute type, and the plain opset-17 form everywhere else, so a
// graph built for one provider never fails to load on it for want of a kernel.

/** The com.microsoft contrib operators the builder can emit. */
export type FusedOp =
  /** attention without a mask or float32 upcast: q, k, v [B, S, heads·d] → [B, S, heads·d] */
  | 'MultiHeadAttention'
  /** residual Add + LayerNormalization, with the sum as a second result */
  | 'SkipLayerNormalization'
  /** GroupNorm (+ SiLU), NHWC (channels_last 1) between transposes, float32 scale and shift */
  | 'GroupNorm'
  /** GEGLU after its projection's MatMul: (x + b) split in two, left · GELU(right) */
  | 'BiasSplitGelu'
  /** GELU(x + b) after a MatMul */
  | 'BiasGelu'
  | 'Gelu'
  | 'QuickGelu';

/** A provider to build for, `none` for plain ONNX only, or an explicit set of operators (any float type). */
export type FusedChoice = 'cpu' | 'cuda' | 'webgpu' | 'none' | { ops: readonly FusedOp[] };

interface ProviderOps {
  ops: readonly FusedOp[];
  /** Compute types the provider's kernels take; other graphs stay plain. */
  types: readonly FloatType[];
}

/**
 * What each provider implements, from onnxruntime's docs/OperatorKernels.md (CPU and CUDA
 * sections, com.microsoft domain) and contrib_ops/webgpu/webgpu_contrib_kernels.cc; the CPU
 * rows were also loaded and run with onnxruntime-node 1.30 (tests/integration/engine-graph-fused.test.ts).
 * CPU kernels are float32 only; GroupNorm and BiasSplitGelu have no CPU kernel, GroupNorm none
 * on WebGPU either.
 */
export const PROVIDER_FUSED_OPS: Readonly<Record<'cpu' | 'cuda' | 'webgpu', ProviderOps>> = {
  cpu: { ops: ['MultiHeadAttention', 'SkipLayerNormalization', 'BiasGelu', 'Gelu', 'QuickGelu'], types: ['float32'] },
  cuda: { ops: ['MultiHeadAttention', 'SkipLayerNormalization', 'GroupNorm', 'BiasSplitGelu', 'BiasGelu', 'Gelu', 'QuickGelu'], types: ['float32', 'float16'] },
  webgpu: { ops: ['MultiHeadAttention', 'SkipLayerNormalization', 'BiasSplitGelu', 'BiasGelu', 'Gelu', 'QuickGelu'], types: ['float32', 'float16'] },
};

const ALL_OPS: ReadonlySet<string> = new Set<FusedOp>(['MultiHeadAttention', 'SkipLayerNormalization', 'GroupNorm', 'BiasSplitGelu', 'BiasGelu', 'Gelu', 'QuickGelu']);

/** The operators a graph computing in `compute` may use under `choice`; an unknown name is an error (a typo would silently build a plain graph). */
export function fusedOps(choice: FusedChoice | undefined, compute: FloatType): ReadonlySet<FusedOp> {
  if (choice === undefined || choice === 'none') return new Set();
  if (typeof choice === 'object') {
    const unknown = choice.ops.filter((op) => !ALL_OPS.has(op));
    if (unknown.length > 0) throw new TypeError(`unknown fused operator ${unknown.join(', ')} (known: ${[...ALL_OPS].join(', ')})`);
    return new Set(choice.ops);
  }
  const row = PROVIDER_FUSED_OPS[choice] as ProviderOps | undefined;
  if (!row) throw new TypeError(`fused: unknown provider ${String(choice)} (cpu, cuda, webgpu or none)`);
  return row.types.includes(compute) ? new Set(row.ops) : new Set();
}

/**
 * Whether BiasSplitGelu takes a projection of `width` (2·D) features on `target` in `compute`:
 * ORT's CUDA kernel refuses all but 2560, 5120 and 10240 at run time (SD's 320/640/1280-wide
 * blocks; contrib_ops/cuda/diffusion/bias_split_gelu.cc); WebGPU's takes any width, but its
 * float16 kernel failed to run on lavapipe ("raw_hash_map<>::at", docs/performance.md), so a
 * float16 WebGPU graph keeps the plain GEGLU until a GPU shows it runs.
 */
export function biasSplitGeluFits(target: string, width: number, compute: FloatType = 'float32'): boolean {
  if (target === 'webgpu') return compute !== 'float16';
  return target !== 'cuda' || width === 2560 || width === 5120 || width === 10240;
}

/**
 * Whether MultiHeadAttention takes heads of `headSize` on `target`: ORT 1.30's WebGPU kernel
 * gave wrong results for head sizes under 32 (1–4e-2 of scale at 8–24, float32 and float16
 * alike, on lavapipe) and float16 results closer to float32 than plain float16 attention at
 * SD's 40–160 (docs/graph-builder.md; bench/gpu-device.ts attentionCheck,
 * tests/integration/engine-webgpu.test.ts).
 */
export function multiHeadAttentionFits(target: string, headSize: number): boolean {
  return target !== 'webgpu' || headSize >= 32;
}

/** The fused choice for an execution provider name as session.ts opens it ('dml', 'coreml' … get plain graphs). */
export function fusedFor(device: string): FusedChoice {
  return device === 'cpu' || device === 'cuda' || device === 'webgpu' ? device : 'none';
}
