import type { TorchCpuGenerator } from '../rng/torch-generator.js';
import { checkLengths, checkStepIndex, predictOriginalVe } from './common.js';
import { EulerScheduler } from './euler.js';
import type { SchedulerConfig } from './types.js';

/**
 * Euler ancestral (k-diffusion `sample_euler_ancestral`, diffusers
 * EulerAncestralDiscreteScheduler): an Euler step down to σ_down, then fresh noise of σ_up,
 * σ_up = √(σ_to²(σ_from² − σ_to²)/σ_from²), σ_down = √(σ_to² − σ_up²). Noise is drawn from
 * the generator on every step, the last included, as diffusers does, so seeds match.
 */
export class EulerAncestralScheduler extends EulerScheduler {
  constructor(config: SchedulerConfig) {
    // diffusers' ancestral Euler has no Karras option.
    super(config, false);
  }

  override step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, generator: TorchCpuGenerator): Float32Array {
    checkStepIndex(stepIndex, this.timesteps);
    checkLengths(modelOutput, sample);
    const sigmaFrom = this.sigmas[stepIndex]!;
    const sigmaTo = this.sigmas[stepIndex + 1]!;
    const sigmaUp = Math.sqrt((sigmaTo * sigmaTo * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo)) / (sigmaFrom * sigmaFrom));
    // Mathematically σ_to⁴/σ_from² ≥ 0; the max only keeps rounding from making it −0.0…1.
    const sigmaDown = Math.sqrt(Math.max(0, sigmaTo * sigmaTo - sigmaUp * sigmaUp));
    const dt = sigmaDown - sigmaFrom;
    const x0 = new Float32Array(sample.length);
    predictOriginalVe(this.config.predictionType, modelOutput, sample, sigmaFrom, x0);
    const noise = generator.randn(sample.length);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) {
      const x = sample[i]!;
      out[i] = x + ((x - x0[i]!) / sigmaFrom) * dt + noise[i]! * sigmaUp;
    }
    this.lastPredictedOriginal = x0;
    return out;
  }
}
