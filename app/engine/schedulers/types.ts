import type { TorchCpuGenerator } from '../rng/torch-generator.js';

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';
export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';
export type SchedulerName = 'ddim' | 'euler' | 'euler_a' | 'dpmpp_2m' | 'dpmpp_2m_karras' | 'lcm';

/** A diffusers `scheduler_config.json`, in camelCase, with diffusers' defaults filled in. */
export interface SchedulerConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  predictionType: PredictionType;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
  /** DDIM and LCM: clamp the x0 estimate to ±clipSampleRange. */
  clipSample?: boolean;
  clipSampleRange?: number;
  /** DDIM and LCM: the ᾱ used after the last step, 1 (true) or ᾱ_0 (false). */
  setAlphaToOne?: boolean;
  /** Euler: Karras et al. (2022) sigmas instead of the spacing's own. */
  useKarrasSigmas?: boolean;
  /** DPM-Solver++: first-order last step (diffusers `lower_order_final`). */
  lowerOrderFinal?: boolean;
  /** DPM-Solver++: the sigma after the last step, 0 or the schedule's smallest. */
  finalSigmasType?: 'zero' | 'sigma_min';
  /** LCM: the distillation's step grid (50) and boundary-condition scaling (10). */
  originalInferenceSteps?: number;
  timestepScaling?: number;
}

export interface Scheduler {
  /** After setTimesteps; may be fractional (Euler linspace, Karras); pipelines round for integer-timestep UNets. */
  readonly timesteps: number[];
  readonly initNoiseSigma: number;
  setTimesteps(numSteps: number): void;
  /** The UNet input for this step; may return `sample` itself when the scheduler does not scale. */
  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array;
  /**
   * One denoising step from timesteps[stepIndex] to the next; the generator supplies noise
   * for ancestral/LCM steps. Returns a new array. Multistep schedulers remember earlier
   * outputs, so call it once per step, in order, after setTimesteps.
   */
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, generator: TorchCpuGenerator): Float32Array;
  /** Noise clean latents to the noise level of timesteps[stepIndex] (img2img start; inpaint blend). */
  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array;
  /** The model's x0 estimate from the last step (for previews). */
  readonly lastPredictedOriginal?: Float32Array;
}
