import type { TorchCpuGenerator } from '../rng/torch-generator.js';
import { alphasCumprod, checkLengths, checkStepIndex, combine, linspaceAt, predictOriginalVp } from './common.js';
import type { Scheduler, SchedulerConfig } from './types.js';

/**
 * Latent Consistency Model multistep sampling (Luo et al. 2023, Algorithm 1), as diffusers'
 * LCMScheduler: the consistency function f(x, t) = c_skip·x + c_out·x0 with
 * c_skip = σ_d²/((s·t)² + σ_d²), c_out = s·t/√((s·t)² + σ_d²), σ_d = 0.5, s = timestep_scaling;
 * between steps the estimate is re-noised to the next timestep with fresh generator noise
 * (not after the last). Timesteps come from the distillation grid (1..50)·k − 1,
 * k = T/original_steps, picked by floor(linspace) from the top.
 */
export class LcmScheduler implements Scheduler {
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];
  lastPredictedOriginal?: Float32Array;
  private readonly alphas: Float64Array;
  private readonly finalAlphaCumprod: number;

  constructor(private readonly config: SchedulerConfig) {
    this.alphas = alphasCumprod(config);
    this.finalAlphaCumprod = config.setAlphaToOne ?? true ? 1 : this.alphas[0]!;
  }

  setTimesteps(numSteps: number): void {
    const T = this.config.numTrainTimesteps;
    const original = this.config.originalInferenceSteps ?? 50;
    if (!Number.isInteger(numSteps) || numSteps < 1 || numSteps > original) {
      throw new RangeError(`an LCM samples 1 to ${original} steps (its distillation grid), got ${numSteps}`);
    }
    const k = Math.floor(T / original);
    // The grid from the top: original·k − 1, …, k − 1.
    const grid: number[] = [];
    for (let i = original; i >= 1; i--) grid.push(i * k - 1);
    this.timesteps = [];
    for (let i = 0; i < numSteps; i++) {
      // np.linspace(0, len, N, endpoint=False) = i·len/N.
      const index = Math.floor(linspaceAt(0, grid.length, numSteps + 1, i));
      this.timesteps.push(grid[index]!);
    }
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
    const isLast = stepIndex === this.timesteps.length - 1;
    const prevT = isLast ? t : this.timesteps[stepIndex + 1]!;
    const aT = this.alphaAt(t);
    const aPrev = this.alphaAt(prevT);
    const sigmaData = 0.5;
    const scaled = t * (this.config.timestepScaling ?? 10);
    const cSkip = (sigmaData * sigmaData) / (scaled * scaled + sigmaData * sigmaData);
    const cOut = scaled / Math.sqrt(scaled * scaled + sigmaData * sigmaData);
    const x0 = new Float32Array(sample.length);
    const clip = this.config.clipSample ? (this.config.clipSampleRange ?? 1) : undefined;
    predictOriginalVp(this.config.predictionType, modelOutput, sample, aT, x0, clip);
    const denoised = new Float32Array(sample.length);
    for (let i = 0; i < denoised.length; i++) denoised[i] = cOut * x0[i]! + cSkip * sample[i]!;
    this.lastPredictedOriginal = denoised;
    if (isLast) return denoised;
    const noise = generator.randn(sample.length);
    return combine(denoised, Math.sqrt(aPrev), noise, Math.sqrt(1 - aPrev));
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(stepIndex, this.timesteps);
    const a = this.alphas[this.timesteps[stepIndex]!]!;
    return combine(original, Math.sqrt(a), noise, Math.sqrt(1 - a));
  }
}
