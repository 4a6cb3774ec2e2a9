import fs from 'node:fs';
import path from 'node:path';

// How many candidates share one UNet (and ControlNet) call per step (docs/engine.md,
// "Candidates in one batch"). Activation memory grows with samples × latent pixels, so the cap
// is a budget of latent pixels per call; each candidate costs its latent size × 2 with CFG.
// Candidate k's result does not depend on the cap: every candidate keeps its own generator and
// scheduler, and a batch element computes what it computes alone (tested on the CPU).

/** Environment override for every run of the process: the most candidates per UNet call (1 = one at a time). */
export const CANDIDATE_BATCH_ENV = 'ATELIER_CANDIDATE_BATCH';

/**
 * Latent pixels × samples per UNet call on a GPU provider: SD 1.5 at 512² (64² latents) with 8
 * samples, i.e. 4 candidates with CFG, or SDXL at 1024² with CFG for one candidate. PyTorch's
 * SD 1.5 at batch 8 (fp16, SDPA attention) peaks near 5 GB, which every GPU Atelier targets holds.
 */
export const GPU_LATENT_BUDGET = 8 * 64 * 64;

/**
 * Latent pixels × samples per UNet call on the CPU provider: none beyond one candidate. Measured
 * (docs/engine.md, "Candidates in one batch"): on the CPU one call of batch 8 costs what four
 * calls of batch 2 cost (the starter at 256², 20 steps: 1.20–1.44 s against 4 × 0.31–0.34 s a
 * step), so batching there only adds memory.
 */
export const CPU_LATENT_BUDGET = 0;

export interface BatchShape {
  /** The execution provider the UNet runs on. */
  device: string;
  latentWidth: number;
  latentHeight: number;
  /** 2 with classifier-free guidance, else 1. */
  halves: number;
  /** Candidates in the request. */
  candidates: number;
}

/**
 * Candidates per UNet call: `override` (RunOptions.candidateBatch), else ATELIER_CANDIDATE_BATCH,
 * else as many as the provider's latent budget holds; at least 1, at most the request's batch.
 */
export function candidatesPerCall(shape: BatchShape, override?: number, env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = env[CANDIDATE_BATCH_ENV]?.trim();
  let cap: number;
  if (override !== undefined) cap = override;
  else if (fromEnv) {
    cap = Number(fromEnv);
    if (!Number.isInteger(cap) || cap < 1) throw new TypeError(`${CANDIDATE_BATCH_ENV}=${fromEnv}: a whole number of candidates, at least 1`);
  } else {
    const budget = shape.device === 'cpu' ? CPU_LATENT_BUDGET : GPU_LATENT_BUDGET;
    cap = Math.floor(budget / (shape.latentWidth * shape.latentHeight * shape.halves));
  }
  if (!Number.isInteger(cap)) throw new TypeError(`candidateBatch ${cap}: a whole number`);
  return Math.max(1, Math.min(shape.candidates, cap));
}

/** [0 … n) in consecutive groups of at most `size`. */
export function groupsOf(n: number, size: number): number[][] {
  const groups: number[][] = [];
  for (let k = 0; k < n; k += size) groups.push(Array.from({ length: Math.min(size, n - k) }, (_, j) => k + j));
  return groups;
}

/**
 * Latent pixels × UNet weight bytes (on disk) from which a generation counts as large on the CPU
 * (docs/engine.md, "Memory"): SDXL at 1024² (128² latents) from float16 or float32 files, SD 1.x
 * at 1024² from float32 files; not SDXL float16 at 512² nor SD 1.x at 512². A large generation
 * runs its CFG pair as two batch-1 UNet calls (the attention's working memory is per sample:
 * measured on the full-size SDXL UNet, one batch-2 call peaks at 12.78 GiB in 89 s, a batch-1
 * call at 11.23 GiB in 36 s) and, with phase sessions, closes the UNet before the VAE decode.
 */
export const CPU_LARGE_GENERATION = 128 * 128 * 2 ** 31;

/** Environment override for every run of the process: 1 splits every CFG pair, 0 none. */
export const SPLIT_GUIDANCE_ENV = 'ATELIER_SPLIT_GUIDANCE';

/** Whether a generation of this shape on this model is large (CPU_LARGE_GENERATION). */
export function largeGeneration(shape: { device: string; latentWidth: number; latentHeight: number; unetBytes: number }): boolean {
  return shape.device === 'cpu' && shape.latentWidth * shape.latentHeight * shape.unetBytes >= CPU_LARGE_GENERATION;
}

/**
 * Whether the CFG pair runs as two UNet calls (uncond, then cond) instead of one of batch 2:
 * `override` (RunOptions.splitGuidance), else ATELIER_SPLIT_GUIDANCE, else for large
 * generations. The images are the same either way: a batch row computes what it computes alone.
 */
export function splitGuidance(shape: { device: string; latentWidth: number; latentHeight: number; unetBytes: number }, override?: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  if (override !== undefined) return override;
  const fromEnv = env[SPLIT_GUIDANCE_ENV]?.trim();
  if (fromEnv === '1' || fromEnv === '0') return fromEnv === '1';
  if (fromEnv) throw new TypeError(`${SPLIT_GUIDANCE_ENV}=${fromEnv}: 1 or 0`);
  return largeGeneration(shape);
}

const graphBytesCache = new Map<string, number>();

/** The bytes of a graph's folder (its .onnx and weight files): the UNet's size for the rule above. */
export function graphBytes(file: string): number {
  const dir = path.dirname(file);
  let bytes = graphBytesCache.get(dir);
  if (bytes === undefined) {
    bytes = 0;
    for (const name of fs.readdirSync(dir)) {
      const st = fs.statSync(path.join(dir, name));
      if (st.isFile()) bytes += st.size;
    }
    graphBytesCache.set(dir, bytes);
  }
  return bytes;
}
