import type { TorchCpuGenerator } from '../rng/torch-generator.js';
import {
  alphasCumprod,
  checkLengths,
  checkNumSteps,
  checkStepIndex,
  interpSigma,
  karrasSigmas,
  predictOriginalVe,
  sigmaToT,
  spacedTimesteps,
  trainingSigmas,
} from './common.js';
import type { Scheduler, SchedulerConfig } from './types.js';

/**
 * Euler's method on the probability-flow ODE in σ (Karras et al. 2022, Algorithm 2 without
 * churn), as diffusers' EulerDiscreteScheduler: d = (x − x0)/σ, x_next = x + d·(σ_next − σ).
 * Sigmas are the training σ interpolated at the (possibly fractional) timesteps, then 0.
 */
export class EulerScheduler implements Scheduler {
  timesteps: number[] = [];
  /** σ per step plus the final 0. */
  sigmas: number[] = [];
  lastPredictedOriginal?: Float32Array;
  protected readonly trainSigmas: Float64Array;
  protected readonly logSigmas: Float64Array;

  constructor(
    protected readonly config: SchedulerConfig,
    protected readonly karras = config.useKarrasSigmas ?? false,
  ) {
    this.trainSigmas = trainingSigmas(alphasCumprod(config));
    this.logSigmas = this.trainSigmas.map(Math.log);
  }

  /** σ_max for spacings that end at T−1 (linspace, trailing); √(σ_max² + 1) for leading. */
  get initNoiseSigma(): number {
    const max = Math.max(...this.sigmas);
    return this.config.timestepSpacing === 'leading' ? Math.sqrt(max * max + 1) : max;
  }

  setTimesteps(numSteps: number): void {
    const T = this.config.numTrainTimesteps;
    checkNumSteps(numSteps, T);
    let timesteps = spacedTimesteps(this.config.timestepSpacing, numSteps, T, this.config.stepsOffset, false);
    let sigmas = timesteps.map((t) => interpSigma(this.trainSigmas, t));
    if (this.karras) {
      // Between the spaced schedule's own extremes, as diffusers does.
      sigmas = karrasSigmas(sigmas[sigmas.length - 1]!, sigmas[0]!, numSteps);
      timesteps = sigmas.map((s) => sigmaToT(s, this.logSigmas));
    }
    this.timesteps = timesteps;
    this.sigmas = [...sigmas, 0];
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(stepIndex, this.timesteps);
    const sigma = this.sigmas[stepIndex]!;
    const k = Math.sqrt(sigma * sigma + 1);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) out[i] = sample[i]! / k;
    return out;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, _generator: TorchCpuGenerator): Float32Array {
    checkStepIndex(stepIndex, this.timesteps);
    checkLengths(modelOutput, sample);
    const sigma = this.sigmas[stepIndex]!;
    const dt = this.sigmas[stepIndex + 1]! - sigma;
    const x0 = new Float32Array(sample.length);
    predictOriginalVe(this.config.predictionType, modelOutput, sample, sigma, x0);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) {
      const x = sample[i]!;
      out[i] = x + ((x - x0[i]!) / sigma) * dt;
    }
    this.lastPredictedOriginal = x0;
    return out;
  }

  /** x + σ·n: the variance-exploding forward process. */
  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(stepIndex, this.timesteps);
    if (original.length !== noise.length) throw new RangeError(`noise has ${noise.length} values but the latents have ${original.length}`);
    const sigma = this.sigmas[stepIndex]!;
    const out = new Float32Array(original.length);
    for (let i = 0; i < out.length; i++) out[i] = original[i]! + noise[i]! * sigma;
    return out;
  }
}
