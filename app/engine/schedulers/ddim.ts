import type { TorchCpuGenerator } from '../rng/torch-generator.js';
import { alphasCumprod, checkLengths, checkNumSteps, checkStepIndex, combine, predictOriginalVp, spacedTimesteps } from './common.js';
import type { Scheduler, SchedulerConfig } from './types.js';

/**
 * DDIM (Song, Meng & Ermon 2021, eq. 12), as diffusers' DDIMScheduler with η = 0 by default:
 * x0 = (x − √(1−ᾱ_t)·ε)/√ᾱ_t, x_prev = √ᾱ_prev·x0 + √(1−ᾱ_prev−σ²)·ε + σ·z, σ = η·√var.
 */
export class DdimScheduler implements Scheduler {
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];
  lastPredictedOriginal?: Float32Array;
  private readonly alphas: Float64Array;
  private readonly finalAlphaCumprod: number;

  /** η: 0 is deterministic DDIM, 1 adds DDPM-like noise drawn from the generator. */
  constructor(
    private readonly config: SchedulerConfig,
    private readonly eta = 0,
  ) {
    this.alphas = alphasCumprod(config);
    this.finalAlphaCumprod = config.setAlphaToOne ?? true ? 1 : this.alphas[0]!;
  }

  setTimesteps(numSteps: number): void {
    const T = this.config.numTrainTimesteps;
    checkNumSteps(numSteps, T);
    this.timesteps = spacedTimesteps(this.config.timestepSpacing, numSteps, T, this.config.stepsOffset, true);
  }

  scaleModelInput(sample: Float32Array, _stepIndex: number): Float32Array {
    return sample;
  }

  private alphaAt(t: number): number {
    return t >= 0 ? this.alphas[t]! : this.finalAlphaCumprod;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, generator: TorchCpuGenerator): Float32Array {
    checkStepIndex(stepIndex, this.timesteps);
    checkLengths(modelOutput, sample);
    const t = this.timesteps[stepIndex]!;
    // diffusers steps back by T/N whatever the spacing, not to the next listed timestep.
    const prevT = t - Math.floor(this.config.numTrainTimesteps / this.timesteps.length);
    const aT = this.alphaAt(t);
    const aPrev = this.alphaAt(prevT);
    const x0 = new Float32Array(sample.length);
    const clip = this.config.clipSample ? (this.config.clipSampleRange ?? 1) : undefined;
    predictOriginalVp(this.config.predictionType, modelOutput, sample, aT, x0, clip);
    const variance = ((1 - aPrev) / (1 - aT)) * (1 - aT / aPrev);
    const std = this.eta * Math.sqrt(variance);
    const sa = Math.sqrt(aT);
    const sb = Math.sqrt(1 - aT);
    const sPrev = Math.sqrt(aPrev);
    const dir = Math.sqrt(1 - aPrev - std * std);
    const noise = std > 0 ? generator.randn(sample.length) : undefined;
    const out = new Float32Array(sample.length);
    const prediction = this.config.predictionType;
    for (let i = 0; i < out.length; i++) {
      const m = modelOutput[i]!;
      const x = sample[i]!;
      const x0i = x0[i]!;
      // ε as diffusers derives it, from the unclipped prediction.
      const eps = prediction === 'epsilon' ? m : prediction === 'v_prediction' ? sa * m + sb * x : (x - sa * m) / sb;
      let v = sPrev * x0i + dir * eps;
      if (noise) v += std * noise[i]!;
      out[i] = v;
    }
    this.lastPredictedOriginal = x0;
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(stepIndex, this.timesteps);
    const a = this.alphas[this.timesteps[stepIndex]!]!;
    return combine(original, Math.sqrt(a), noise, Math.sqrt(1 - a));
  }
}
