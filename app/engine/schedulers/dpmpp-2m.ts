import type { TorchCpuGenerator } from '../rng/torch-generator.js';
import {
  alphasCumprod,
  checkLengths,
  checkNumSteps,
  checkStepIndex,
  interpSigma,
  karrasSigmas,
  linspaceAt,
  roundHalfEven,
  sigmaToT,
  trainingSigmas,
} from './common.js';
import type { Scheduler, SchedulerConfig } from './types.js';

/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2), as diffusers'
 * DPMSolverMultistepScheduler with algorithm_type "dpmsolver++", solver_order 2,
 * solver_type "midpoint": the model's x0 estimates are extrapolated linearly in
 * λ = log(α/σ). The first step is first order (no history yet); the last step too when
 * lower_order_final applies (fewer than 15 steps, or a final σ of 0).
 * Variance-preserving: α_t = 1/√(σ²+1), σ_t = σ·α_t; initial noise σ is 1.
 */
export class DpmSolverMultistepScheduler implements Scheduler {
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];
  sigmas: number[] = [];
  lastPredictedOriginal?: Float32Array;
  private readonly trainSigmas: Float64Array;
  private readonly logSigmas: Float64Array;
  /** x0 estimates of the previous and current step (diffusers `model_outputs`). */
  private previousX0: Float32Array | null = null;
  private lowerOrderNums = 0;
  private nextStepIndex = 0;

  constructor(
    private readonly config: SchedulerConfig,
    private readonly karras: boolean,
  ) {
    this.trainSigmas = trainingSigmas(alphasCumprod(config));
    this.logSigmas = this.trainSigmas.map(Math.log);
  }

  setTimesteps(numSteps: number): void {
    const T = this.config.numTrainTimesteps;
    checkNumSteps(numSteps, T);
    let timesteps: number[] = [];
    const spacing = this.config.timestepSpacing;
    // DPM-Solver spaces N+1 points and drops the last (t = 0), unlike DDIM/Euler.
    if (spacing === 'linspace') {
      for (let i = numSteps; i >= 1; i--) timesteps.push(roundHalfEven(linspaceAt(0, T - 1, numSteps + 1, i)));
    } else if (spacing === 'leading') {
      const ratio = Math.floor(T / (numSteps + 1));
      for (let i = numSteps; i >= 1; i--) timesteps.push(i * ratio + this.config.stepsOffset);
    } else {
      const ratio = T / numSteps;
      const count = Math.ceil(-T / -ratio);
      for (let i = 0; i < count; i++) timesteps.push(roundHalfEven(T + i * -ratio) - 1);
    }
    let sigmas: number[];
    if (this.karras) {
      // Over the whole training range σ(0)…σ(T−1), timesteps rounded back to integers.
      sigmas = karrasSigmas(this.trainSigmas[0]!, this.trainSigmas[T - 1]!, numSteps);
      timesteps = sigmas.map((s) => roundHalfEven(sigmaToT(s, this.logSigmas)));
    } else {
      sigmas = timesteps.map((t) => interpSigma(this.trainSigmas, t));
    }
    const last = (this.config.finalSigmasType ?? 'zero') === 'zero' ? 0 : this.trainSigmas[0]!;
    this.timesteps = timesteps;
    this.sigmas = [...sigmas, last];
    this.previousX0 = null;
    this.lowerOrderNums = 0;
    this.nextStepIndex = 0;
  }

  scaleModelInput(sample: Float32Array, _stepIndex: number): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, _generator: TorchCpuGenerator): Float32Array {
    checkStepIndex(stepIndex, this.timesteps);
    checkLengths(modelOutput, sample);
    // The first step may be any index (img2img starts part-way); after it, steps go in order.
    if (this.previousX0 !== null && stepIndex !== this.nextStepIndex) {
      throw new RangeError(`DPM++ 2M keeps the previous step's estimate: expected step ${this.nextStepIndex}, got ${stepIndex} (call setTimesteps to start over)`);
    }
    const n = sample.length;
    const sigma = this.sigmas[stepIndex]!;
    const [alphaS0, sigmaS0] = vp(sigma);
    // Convert the model output to an x0 estimate (dpmsolver++ works on data predictions).
    const x0 = new Float32Array(n);
    const prediction = this.config.predictionType;
    for (let i = 0; i < n; i++) {
      const m = modelOutput[i]!;
      const x = sample[i]!;
      x0[i] = prediction === 'epsilon' ? (x - sigmaS0 * m) / alphaS0 : prediction === 'v_prediction' ? alphaS0 * x - sigmaS0 * m : m;
    }
    const steps = this.timesteps.length;
    const finalSigmaZero = (this.config.finalSigmasType ?? 'zero') === 'zero';
    const lowerOrderFinal = stepIndex === steps - 1 && (((this.config.lowerOrderFinal ?? true) && steps < 15) || finalSigmaZero);
    const [alphaT, sigmaT] = vp(this.sigmas[stepIndex + 1]!);
    const lambdaT = Math.log(alphaT) - Math.log(sigmaT);
    const lambdaS0 = Math.log(alphaS0) - Math.log(sigmaS0);
    const h = lambdaT - lambdaS0;
    const ratio = sigmaT / sigmaS0;
    const phi = alphaT * (Math.exp(-h) - 1);
    const out = new Float32Array(n);
    const prev = this.previousX0;
    if (this.lowerOrderNums < 1 || lowerOrderFinal || prev === null) {
      for (let i = 0; i < n; i++) out[i] = ratio * sample[i]! - phi * x0[i]!;
    } else {
      const [alphaS1, sigmaS1] = vp(this.sigmas[stepIndex - 1]!);
      const lambdaS1 = Math.log(alphaS1) - Math.log(sigmaS1);
      const r0 = (lambdaS0 - lambdaS1) / h;
      for (let i = 0; i < n; i++) {
        const d0 = x0[i]!;
        const d1 = (1 / r0) * (d0 - prev[i]!);
        out[i] = ratio * sample[i]! - phi * d0 - 0.5 * phi * d1;
      }
    }
    if (this.lowerOrderNums < 2) this.lowerOrderNums++;
    this.previousX0 = x0;
    this.nextStepIndex = stepIndex + 1;
    this.lastPredictedOriginal = x0;
    return out;
  }

  /** α_t·x + σ_t·n at this step's noise level. */
  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(stepIndex, this.timesteps);
    if (original.length !== noise.length) throw new RangeError(`noise has ${noise.length} values but the latents have ${original.length}`);
    const [a, s] = vp(this.sigmas[stepIndex]!);
    const out = new Float32Array(original.length);
    for (let i = 0; i < out.length; i++) out[i] = a * original[i]! + s * noise[i]!;
    return out;
  }
}

/** (α_t, σ_t) of a variance-preserving process at Karras σ (diffusers `_sigma_to_alpha_sigma_t`). */
function vp(sigma: number): [number, number] {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  return [alpha, sigma * alpha];
}
