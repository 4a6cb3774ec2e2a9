import type { PredictionType, SchedulerConfig, TimestepSpacing } from './types.js';

/**
 * Shared noise-schedule math, following huggingface/diffusers (schedulers/scheduling_ddim.py,
 * scheduling_euler_discrete.py, scheduling_dpmsolver_multistep.py). diffusers keeps β and ᾱ
 * in float32; these are float64, which differs from it by about 1e-7 relative.
 */

/** ᾱ_t = Π (1 − β_s) for s ≤ t. */
export function alphasCumprod(config: SchedulerConfig): Float64Array {
  const n = config.numTrainTimesteps;
  const betas = new Float64Array(n);
  if (config.betaSchedule === 'linear') {
    for (let i = 0; i < n; i++) betas[i] = linspaceAt(config.betaStart, config.betaEnd, n, i);
  } else if (config.betaSchedule === 'scaled_linear') {
    // "scaled_linear" is linear in √β: latent-diffusion's schedule.
    const a = Math.sqrt(config.betaStart);
    const b = Math.sqrt(config.betaEnd);
    for (let i = 0; i < n; i++) betas[i] = linspaceAt(a, b, n, i) ** 2;
  } else {
    // Nichol & Dhariwal (2021) cosine ᾱ(t) = cos²((t + 0.008)/1.008 · π/2), β capped at 0.999
    // (diffusers `betas_for_alpha_bar`).
    const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI * 0.5) ** 2;
    for (let i = 0; i < n; i++) betas[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999);
  }
  const out = new Float64Array(n);
  let prod = 1;
  for (let i = 0; i < n; i++) {
    prod *= 1 - betas[i]!;
    out[i] = prod;
  }
  return out;
}

/** numpy.linspace(a, b, n)[i]: the end point is exact. */
export function linspaceAt(a: number, b: number, n: number, i: number): number {
  if (n === 1) return a;
  if (i === n - 1) return b;
  return a + ((b - a) / (n - 1)) * i;
}

/** σ_t = √((1 − ᾱ_t)/ᾱ_t) for every training timestep. */
export function trainingSigmas(alphas: Float64Array): Float64Array {
  const out = new Float64Array(alphas.length);
  for (let i = 0; i < alphas.length; i++) out[i] = Math.sqrt((1 - alphas[i]!) / alphas[i]!);
  return out;
}

/** numpy.round: halves to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Timesteps for DDIM / Euler / LCM-style spacing (diffusers `set_timesteps`), descending.
 * `round` false keeps linspace's fractional values (Euler); true rounds them (DDIM).
 */
export function spacedTimesteps(spacing: TimestepSpacing, numSteps: number, numTrain: number, stepsOffset: number, round: boolean): number[] {
  const out: number[] = [];
  if (spacing === 'linspace') {
    for (let i = numSteps - 1; i >= 0; i--) {
      const t = linspaceAt(0, numTrain - 1, numSteps, i);
      out.push(round ? roundHalfEven(t) : t);
    }
  } else if (spacing === 'leading') {
    const ratio = Math.floor(numTrain / numSteps);
    for (let i = numSteps - 1; i >= 0; i--) out.push(i * ratio + stepsOffset);
  } else {
    // np.round(np.arange(T, 0, -T/N)) - 1
    const ratio = numTrain / numSteps;
    // numpy sizes arange by ceil((stop − start)/step).
    const count = Math.ceil(-numTrain / -ratio);
    for (let i = 0; i < count; i++) out.push(roundHalfEven(numTrain + i * -ratio) - 1);
  }
  return out;
}

/** numpy.interp of σ over integer training timesteps, at a possibly fractional t. */
export function interpSigma(sigmas: Float64Array, t: number): number {
  if (t <= 0) return sigmas[0]!;
  const last = sigmas.length - 1;
  if (t >= last) return sigmas[last]!;
  const lo = Math.floor(t);
  const w = t - lo;
  return sigmas[lo]! + (sigmas[lo + 1]! - sigmas[lo]!) * w;
}

/** Karras et al. (2022), eq. 5: ρ = 7 between σ_max and σ_min (diffusers `_convert_to_karras`). */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, numSteps: number): number[] {
  const rho = 7;
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  const out: number[] = [];
  for (let i = 0; i < numSteps; i++) out.push((maxInv + linspaceAt(0, 1, numSteps, i) * (minInv - maxInv)) ** rho);
  return out;
}

/** The fractional training timestep whose σ is `sigma`, by linear interpolation in log σ (diffusers `_sigma_to_t`). */
export function sigmaToT(sigma: number, logSigmas: Float64Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // The last index whose log σ is at or below ours (0 if none), kept off the final index.
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - logSigmas[i]! >= 0) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const lo = logSigmas[low]!;
  const hi = logSigmas[low + 1]!;
  const w = Math.min(Math.max((lo - logSigma) / (lo - hi), 0), 1);
  return (1 - w) * low + w * (low + 1);
}

/**
 * The x0 estimate of a variance-preserving step: sample = √ᾱ·x0 + √(1−ᾱ)·ε.
 * Writes into `out`; clamps to ±clip when clip is given.
 */
export function predictOriginalVp(
  prediction: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  alphaProd: number,
  out: Float32Array,
  clip?: number,
): void {
  const sa = Math.sqrt(alphaProd);
  const sb = Math.sqrt(1 - alphaProd);
  const n = sample.length;
  for (let i = 0; i < n; i++) {
    const m = modelOutput[i]!;
    const x = sample[i]!;
    let x0 = prediction === 'epsilon' ? (x - sb * m) / sa : prediction === 'v_prediction' ? sa * x - sb * m : m;
    if (clip !== undefined) x0 = Math.min(Math.max(x0, -clip), clip);
    out[i] = x0;
  }
}

/**
 * The x0 estimate of a variance-exploding (Karras/k-diffusion) step: sample = x0 + σ·ε,
 * as in diffusers' Euler schedulers.
 */
export function predictOriginalVe(prediction: PredictionType, modelOutput: Float32Array, sample: Float32Array, sigma: number, out: Float32Array): void {
  const n = sample.length;
  if (prediction === 'epsilon') {
    for (let i = 0; i < n; i++) out[i] = sample[i]! - sigma * modelOutput[i]!;
  } else if (prediction === 'v_prediction') {
    // The v-parameterisation (Salimans & Ho 2022) written for the scaled input x/√(σ²+1).
    const c = -sigma / Math.sqrt(sigma * sigma + 1);
    const d = 1 / (sigma * sigma + 1);
    for (let i = 0; i < n; i++) out[i] = modelOutput[i]! * c + sample[i]! * d;
  } else {
    out.set(modelOutput);
  }
}

export function checkLengths(modelOutput: Float32Array, sample: Float32Array): void {
  if (modelOutput.length !== sample.length) {
    throw new RangeError(`model output has ${modelOutput.length} values but the sample has ${sample.length}`);
  }
}

export function checkStepIndex(stepIndex: number, timesteps: number[]): void {
  if (timesteps.length === 0) throw new RangeError('setTimesteps must be called before stepping');
  if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= timesteps.length) {
    throw new RangeError(`step index ${stepIndex} is outside 0..${timesteps.length - 1}`);
  }
}

export function checkNumSteps(numSteps: number, numTrain: number): void {
  if (!Number.isInteger(numSteps) || numSteps < 1 || numSteps > numTrain) {
    throw new RangeError(`the number of steps must be a whole number from 1 to ${numTrain}, got ${numSteps}`);
  }
}

/** x·a + n·b per element, into a new array (DDPM-style add_noise and friends). */
export function combine(x: Float32Array, a: number, n: Float32Array, b: number): Float32Array {
  if (x.length !== n.length) throw new RangeError(`noise has ${n.length} values but the latents have ${x.length}`);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = a * x[i]! + b * n[i]!;
  return out;
}
