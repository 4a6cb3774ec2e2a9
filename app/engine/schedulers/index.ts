import { ApiError } from '../../contract/errors.js';
import { DdimScheduler } from './ddim.js';
import { DpmSolverMultistepScheduler } from './dpmpp-2m.js';
import { EulerAncestralScheduler } from './euler-ancestral.js';
import { EulerScheduler } from './euler.js';
import { LcmScheduler } from './lcm.js';
import type { BetaSchedule, PredictionType, Scheduler, SchedulerConfig, SchedulerName, TimestepSpacing } from './types.js';

export type { BetaSchedule, PredictionType, Scheduler, SchedulerConfig, SchedulerName, TimestepSpacing } from './types.js';
export { DdimScheduler } from './ddim.js';
export { DpmSolverMultistepScheduler } from './dpmpp-2m.js';
export { EulerAncestralScheduler } from './euler-ancestral.js';
export { EulerScheduler } from './euler.js';
export { LcmScheduler } from './lcm.js';

export const SCHEDULER_NAMES: readonly SchedulerName[] = ['ddim', 'euler', 'euler_a', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm'];

/** The diffusers class whose defaults apply when a config leaves a key out. */
const CLASS_OF: Record<SchedulerName, string> = {
  ddim: 'DDIMScheduler',
  euler: 'EulerDiscreteScheduler',
  euler_a: 'EulerAncestralDiscreteScheduler',
  dpmpp_2m: 'DPMSolverMultistepScheduler',
  dpmpp_2m_karras: 'DPMSolverMultistepScheduler',
  lcm: 'LCMScheduler',
};

/**
 * Defaults of each diffusers class's `__init__` (diffusers 0.27–0.32). They matter because
 * diffusers' `from_config` fills keys a saved config lacks from the *target* class: SD 1.x
 * ships a PNDMScheduler config without `timestep_spacing`, which Euler reads as "linspace"
 * and DDIM as "leading".
 */
const CLASS_DEFAULTS: Record<string, Partial<SchedulerConfig>> = {
  DDIMScheduler: { betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear', timestepSpacing: 'leading', clipSample: true, setAlphaToOne: true },
  PNDMScheduler: { betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear', timestepSpacing: 'leading', setAlphaToOne: false },
  EulerDiscreteScheduler: { betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear', timestepSpacing: 'linspace' },
  EulerAncestralDiscreteScheduler: { betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear', timestepSpacing: 'linspace' },
  DPMSolverMultistepScheduler: { betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear', timestepSpacing: 'linspace' },
  LCMScheduler: {
    betaStart: 0.00085,
    betaEnd: 0.012,
    betaSchedule: 'scaled_linear',
    timestepSpacing: 'leading',
    clipSample: false,
    setAlphaToOne: true,
    originalInferenceSteps: 50,
    timestepScaling: 10,
  },
};

const FILE = 'scheduler/scheduler_config.json';

function bad(message: string): never {
  throw new ApiError('invalid_model', `${FILE}: ${message}`);
}

/**
 * Read a diffusers `scheduler_config.json` (snake_case keys). Keys it leaves out take the
 * defaults of the diffusers class that will run it — `target` when given, as diffusers'
 * `from_config` does, else the config's own `_class_name` — so results match diffusers.
 * Settings this engine cannot honour (dynamic thresholding, zero-terminal-SNR rescaling)
 * are refused rather than ignored.
 */
export function parseSchedulerConfig(json: unknown, target?: SchedulerName): SchedulerConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) bad('expected a JSON object');
  const raw = json as Record<string, unknown>;
  const ownClass = typeof raw._class_name === 'string' ? raw._class_name : '';
  const defaults = CLASS_DEFAULTS[target ? CLASS_OF[target] : ownClass] ?? CLASS_DEFAULTS.DDIMScheduler!;

  const num = (key: string, fallback: number | undefined, check: (v: number) => boolean, what: string): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) bad(`${key} must be ${what}, got ${JSON.stringify(raw[key])}`);
    return v;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'boolean') bad(`${key} must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const oneOf = <T extends string>(key: string, fallback: T, allowed: readonly T[]): T => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      bad(`${key} ${JSON.stringify(v)} is not supported (${allowed.join(', ')})`);
    }
    return v as T;
  };

  if (raw.trained_betas != null) bad('trained_betas (an explicit β list) is not supported');
  if (raw.thresholding === true) bad('thresholding (dynamic thresholding) is not supported');
  if (raw.rescale_betas_zero_snr === true) bad('rescale_betas_zero_snr is not supported');
  const betaStart = num('beta_start', defaults.betaStart, (v) => v > 0 && v < 1, 'a number in (0, 1)');
  const betaEnd = num('beta_end', defaults.betaEnd, (v) => v > 0 && v < 1, 'a number in (0, 1)');
  const config: SchedulerConfig = {
    numTrainTimesteps: num('num_train_timesteps', 1000, (v) => Number.isInteger(v) && v >= 2, 'a whole number ≥ 2'),
    betaStart,
    betaEnd,
    betaSchedule: oneOf<BetaSchedule>('beta_schedule', defaults.betaSchedule ?? 'linear', ['linear', 'scaled_linear', 'squaredcos_cap_v2']),
    predictionType: oneOf<PredictionType>('prediction_type', 'epsilon', ['epsilon', 'v_prediction', 'sample']),
    timestepSpacing: oneOf<TimestepSpacing>('timestep_spacing', defaults.timestepSpacing ?? 'leading', ['linspace', 'leading', 'trailing']),
    stepsOffset: num('steps_offset', 0, (v) => Number.isInteger(v) && v >= 0, 'a whole number ≥ 0'),
    clipSample: bool('clip_sample', defaults.clipSample ?? false),
    clipSampleRange: num('clip_sample_range', 1, (v) => v > 0, 'a positive number'),
    setAlphaToOne: bool('set_alpha_to_one', defaults.setAlphaToOne ?? true),
    useKarrasSigmas: bool('use_karras_sigmas', false),
    lowerOrderFinal: bool('lower_order_final', true),
    finalSigmasType: oneOf<'zero' | 'sigma_min'>('final_sigmas_type', 'zero', ['zero', 'sigma_min']),
    originalInferenceSteps: num('original_inference_steps', defaults.originalInferenceSteps ?? 50, (v) => Number.isInteger(v) && v >= 1, 'a whole number ≥ 1'),
    timestepScaling: num('timestep_scaling', defaults.timestepScaling ?? 10, (v) => v > 0, 'a positive number'),
  };
  if (config.betaEnd < config.betaStart) bad(`beta_end (${betaEnd}) is below beta_start (${betaStart})`);
  return config;
}

/** Per-run sampler settings that are not part of the model's scheduler config. */
export interface SchedulerOptions {
  /** DDIM η (0 = deterministic DDIM, 1 = DDPM-like ancestral noise); diffusers' `eta`. */
  eta?: number;
}

/**
 * The sampler the artist picked, over the model's schedule. The name decides Karras sigmas for
 * DPM++ 2M (dpmpp_2m never, dpmpp_2m_karras always); Euler follows the config's
 * use_karras_sigmas; LCM uses its distillation grid whatever the spacing.
 */
export function createScheduler(name: SchedulerName, config: SchedulerConfig, options: SchedulerOptions = {}): Scheduler {
  const eta = options.eta ?? 0;
  if (!(eta >= 0 && eta <= 1)) throw new ApiError('bad_request', `DDIM eta must be between 0 and 1, got ${eta}`);
  switch (name) {
    case 'ddim':
      return new DdimScheduler(config, eta);
    case 'euler':
      return new EulerScheduler(config);
    case 'euler_a':
      return new EulerAncestralScheduler(config);
    case 'dpmpp_2m':
      return new DpmSolverMultistepScheduler(config, false);
    case 'dpmpp_2m_karras':
      return new DpmSolverMultistepScheduler(config, true);
    case 'lcm':
      return new LcmScheduler(config);
    default:
      throw new ApiError('bad_request', `unknown scheduler ${JSON.stringify(name)} (${SCHEDULER_NAMES.join(', ')})`);
  }
}

/**
 * img2img: the step index to start from for a strength, diffusers semantics
 * (StableDiffusionImg2ImgPipeline.get_timesteps): init_timestep = min(int(steps·strength), steps),
 * t_start = steps − init_timestep. Strength 1 starts from pure noise (index 0). A strength so
 * low that no step is left is refused, as diffusers refuses it, rather than returning the
 * image untouched.
 */
export function startStepForStrength(numSteps: number, strength: number): number {
  if (!Number.isInteger(numSteps) || numSteps < 1) throw new RangeError(`the number of steps must be a whole number ≥ 1, got ${numSteps}`);
  if (!(strength >= 0 && strength <= 1)) throw new ApiError('bad_request', `strength must be between 0 and 1, got ${strength}`);
  const initTimestep = Math.min(Math.floor(numSteps * strength), numSteps);
  if (initTimestep < 1) {
    throw new ApiError('bad_request', `strength ${strength} with ${numSteps} steps leaves no step to run: raise the strength to at least ${1 / numSteps} or use more steps`);
  }
  return numSteps - initTimestep;
}

/**
 * LCM guidance embedding for the UNet's `timestep_cond` (diffusers
 * LatentConsistencyModelPipeline.get_guidance_scale_embedding, after VDM, Kingma et al. 2021):
 * [sin(w'·f_k) … , cos(w'·f_k) …] with w' = (w − 1)·1000, f_k = exp(−k·ln(10000)/(half − 1)),
 * zero-padded when dim is odd. `w` is the guidance scale as the artist sets it. Intermediates
 * are rounded to float32 where torch computes in float32, so the arguments of sin/cos (up to
 * thousands of radians) match diffusers'.
 */
export function guidanceScaleEmbedding(w: number, dim: number): Float32Array {
  if (!Number.isInteger(dim) || dim < 4) throw new RangeError(`embedding dim must be a whole number ≥ 4, got ${dim}`);
  if (!Number.isFinite(w)) throw new RangeError(`guidance scale must be a finite number, got ${w}`);
  const fr = Math.fround;
  const half = Math.floor(dim / 2);
  const scaled = fr(fr(w - 1) * 1000);
  const step = fr(fr(Math.log(10000)) / (half - 1));
  const out = new Float32Array(dim);
  for (let k = 0; k < half; k++) {
    const arg = fr(scaled * fr(Math.exp(fr(k * -step))));
    out[k] = Math.sin(arg);
    out[half + k] = Math.cos(arg);
  }
  return out;
}
