import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../app/contract/errors.js';
import { TorchCpuGenerator } from '../../app/engine/rng/torch-generator.js';
import {
  createScheduler,
  EulerScheduler,
  guidanceScaleEmbedding,
  parseSchedulerConfig,
  startStepForStrength,
  type Scheduler,
  type SchedulerName,
} from '../../app/engine/schedulers/index.js';
import { alphasCumprod } from '../../app/engine/schedulers/common.js';

interface Case {
  scheduler: SchedulerName | 'euler_karras' | 'ddim_eta1';
  spacing: string;
  prediction: string;
  steps: number;
  seed: number;
  timesteps: number[];
  init_noise_sigma: number;
  sigmas: number[];
  scaled_input_mid: number[];
  add_noise_mid: number[];
  single_step_index: number;
  single_step: number[];
  loop_result: number[];
}
interface Reference {
  inputs: { sample: number[]; model_output: number[]; clean: number[]; noise: number[] };
  config: Record<string, unknown>;
  alphas_cumprod: Record<string, { config: Record<string, unknown>; indices: number[]; alphas_cumprod: number[] }>;
  cases: Case[];
  guidance_embedding: Array<{ w: number; dim: number; values: number[] }>;
}

// Written by tests/fixtures/reference/make_scheduler_reference.py: an independent float64
// numpy implementation of the formulas (diffusers semantics).
const ref = JSON.parse(readFileSync(new URL('../fixtures/reference/scheduler-reference.json', import.meta.url), 'utf8')) as Reference;
const f32 = (a: number[]) => Float32Array.from(a);
const sample = f32(ref.inputs.sample);
const modelOutput = f32(ref.inputs.model_output);

/** |a − e| ≤ atol + rtol·|e| element-wise; the message names the worst element. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i]! - expected[i]!) - (atol + rtol * Math.abs(expected[i]!));
    if (!(excess <= worstExcess)) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  if (worst >= 0) expect.fail(`element ${worst}: ${actual[worst]} vs ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
}

function schedulerFor(c: Case): Scheduler {
  const config = parseSchedulerConfig({ ...ref.config, timestep_spacing: c.spacing, prediction_type: c.prediction });
  if (c.scheduler === 'euler_karras') return new EulerScheduler(config, true);
  if (c.scheduler === 'ddim_eta1') return createScheduler('ddim', config, { eta: 1 });
  return createScheduler(c.scheduler, config);
}

/** The reference loop's stand-in denoiser: f32(0.5·x_scaled + model_output·(1 + 0.1·i)). */
function standInModel(scaled: Float32Array, i: number): Float32Array {
  const out = new Float32Array(scaled.length);
  for (let k = 0; k < out.length; k++) out[k] = 0.5 * scaled[k]! + modelOutput[k]! * (1 + 0.1 * i);
  return out;
}

describe('noise schedules (float64, within 1e-12 relative of the numpy reference)', () => {
  for (const [label, s] of Object.entries(ref.alphas_cumprod)) {
    it(`ᾱ for ${label}`, () => {
      const ac = alphasCumprod(parseSchedulerConfig(s.config, 'ddim'));
      expectClose(s.indices.map((i) => ac[i]!), s.alphas_cumprod, 1e-12, 0);
    });
  }
});

// Schedules (timesteps, σ, init σ) are float64 on both sides: 1e-9 relative. Per-element
// outputs are float32 here and float64 in the reference: 2e-6 relative + 2e-6 absolute for
// one step, 1e-5 for whole loops (float32 rounding carried between steps).
describe('schedulers against the independent reference', () => {
  for (const c of ref.cases) {
    describe(`${c.scheduler}, ${c.spacing} spacing, ${c.prediction}, ${c.steps} steps`, () => {
      it('timesteps, sigmas and initial noise sigma (1e-9 relative)', () => {
        const s = schedulerFor(c);
        s.setTimesteps(c.steps);
        expectClose(s.timesteps, c.timesteps, 1e-9, 1e-9);
        expect(s.initNoiseSigma).toBeCloseTo(c.init_noise_sigma, 9);
        if (c.sigmas.length > 0) expectClose((s as unknown as { sigmas: number[] }).sigmas, c.sigmas, 1e-9, 1e-12);
      });

      it('scaled model input and add_noise at the middle step (2e-6)', () => {
        const s = schedulerFor(c);
        s.setTimesteps(c.steps);
        const mid = Math.floor(c.steps / 2);
        expectClose(s.scaleModelInput(sample, mid), c.scaled_input_mid, 2e-6, 2e-6);
        expectClose(s.addNoise(f32(ref.inputs.clean), f32(ref.inputs.noise), mid), c.add_noise_mid, 2e-6, 2e-6);
      });

      it('one step on fixed inputs (2e-6)', () => {
        const s = schedulerFor(c);
        s.setTimesteps(c.steps);
        const out = s.step(modelOutput, c.single_step_index, sample, new TorchCpuGenerator(c.seed));
        expectClose(out, c.single_step, 2e-6, 2e-6);
        expect(s.lastPredictedOriginal?.length).toBe(sample.length);
      });

      it('a whole denoising loop with a stand-in model (1e-5)', () => {
        const s = schedulerFor(c);
        s.setTimesteps(c.steps);
        const generator = new TorchCpuGenerator(c.seed);
        let x: Float32Array = sample.map((v) => v * s.initNoiseSigma);
        for (let i = 0; i < s.timesteps.length; i++) {
          x = s.step(standInModel(s.scaleModelInput(x, i), i), i, x, generator);
        }
        expectClose(x, c.loop_result, 1e-5, 1e-5);
      });
    });
  }
});

describe('startStepForStrength (diffusers img2img)', () => {
  it('starts at steps − int(steps·strength)', () => {
    expect(startStepForStrength(50, 1)).toBe(0);
    expect(startStepForStrength(50, 0.75)).toBe(13); // int(37.5) = 37
    expect(startStepForStrength(10, 0.3)).toBe(7);
    expect(startStepForStrength(100, 0.57)).toBe(44); // 0.57·100 = 56.99999999999999, int → 56, as in Python
    expect(startStepForStrength(20, 0.05)).toBe(19); // one step left
  });
  it('refuses strengths outside [0, 1] and strengths that leave no step, as diffusers does', () => {
    expect(() => startStepForStrength(20, 1.2)).toThrow(ApiError);
    expect(() => startStepForStrength(20, Number.NaN)).toThrow(ApiError);
    expect(() => startStepForStrength(20, 0)).toThrow(/no step to run/);
    expect(() => startStepForStrength(20, 0.04)).toThrow(/no step to run/);
    expect(() => startStepForStrength(0, 0.5)).toThrow(RangeError);
  });
});

describe('guidanceScaleEmbedding (LCM timestep_cond)', () => {
  // torch's float32 exp (SIMD, within 1 ulp) differs from a correctly rounded one in the last
  // bit for some frequencies; at arguments of thousands of radians one float32 ulp of the
  // argument moves sin/cos by up to |arg|·2^-23. So the bound is 1e-6 + 2 ulps of the argument.
  for (const g of ref.guidance_embedding) {
    it(`w = ${g.w}, dim ${g.dim}: equals diffusers' float32 computation within argument rounding`, () => {
      const got = guidanceScaleEmbedding(g.w, g.dim);
      const half = Math.floor(g.dim / 2);
      expect(got.length).toBe(g.values.length);
      for (let i = 0; i < g.values.length; i++) {
        const k = i < half ? i : i - half;
        const arg = i < 2 * half ? (g.w - 1) * 1000 * Math.exp((-k * Math.log(10000)) / (half - 1)) : 0;
        const bound = 1e-6 + 2 * arg * 2 ** -23;
        expect(Math.abs(got[i]! - g.values[i]!), `element ${i} (argument ${arg})`).toBeLessThanOrEqual(bound);
      }
      if (g.dim % 2 === 1) expect(got[g.dim - 1]).toBe(0);
    });
  }
});

describe('parseSchedulerConfig', () => {
  const sd15 = {
    _class_name: 'PNDMScheduler',
    beta_end: 0.012,
    beta_schedule: 'scaled_linear',
    beta_start: 0.00085,
    num_train_timesteps: 1000,
    set_alpha_to_one: false,
    skip_prk_steps: true,
    steps_offset: 1,
    trained_betas: null,
  };
  it('fills keys a config leaves out from the class that will run it, as diffusers from_config does', () => {
    expect(parseSchedulerConfig(sd15).timestepSpacing).toBe('leading');
    expect(parseSchedulerConfig(sd15, 'euler').timestepSpacing).toBe('linspace');
    expect(parseSchedulerConfig(sd15, 'ddim').timestepSpacing).toBe('leading');
    const c = parseSchedulerConfig(sd15, 'euler_a');
    expect(c).toMatchObject({ numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear', predictionType: 'epsilon', stepsOffset: 1, setAlphaToOne: false });
  });
  it('reads v-prediction, spacing and Karras flags', () => {
    const c = parseSchedulerConfig({ ...sd15, prediction_type: 'v_prediction', timestep_spacing: 'trailing', use_karras_sigmas: true });
    expect(c.predictionType).toBe('v_prediction');
    expect(c.timestepSpacing).toBe('trailing');
    expect(c.useKarrasSigmas).toBe(true);
  });
  it('refuses what it cannot honour with invalid_model errors that name the key', () => {
    // toThrow fails when nothing is thrown; no assertion sits inside a catch.
    const refuse = (json: unknown, key: string) => {
      expect(() => parseSchedulerConfig(json)).toThrow(ApiError);
      expect(() => parseSchedulerConfig(json)).toThrow(expect.objectContaining({ code: 'invalid_model', message: expect.stringContaining(key) as string }) as Error);
    };
    refuse({ ...sd15, prediction_type: 'flow' }, 'prediction_type');
    refuse({ ...sd15, beta_schedule: 'exp' }, 'beta_schedule');
    refuse({ ...sd15, thresholding: true }, 'thresholding');
    refuse({ ...sd15, rescale_betas_zero_snr: true }, 'rescale_betas_zero_snr');
    refuse({ ...sd15, trained_betas: [0.1] }, 'trained_betas');
    refuse({ ...sd15, num_train_timesteps: '1000' }, 'num_train_timesteps');
    refuse([], 'JSON object');
  });
});

describe('scheduler contracts', () => {
  const config = parseSchedulerConfig(ref.config, 'euler');
  it('steps are pure: inputs are left untouched and a new array comes back', () => {
    for (const name of ['ddim', 'euler', 'euler_a', 'dpmpp_2m', 'lcm'] as const) {
      const s = createScheduler(name, config);
      s.setTimesteps(4);
      const x = sample.slice();
      const m = modelOutput.slice();
      const out = s.step(m, 0, x, new TorchCpuGenerator(1));
      expect(out).not.toBe(x);
      expect(Array.from(x)).toEqual(Array.from(sample));
      expect(Array.from(m)).toEqual(Array.from(modelOutput));
    }
  });
  it('Euler ancestral draws its per-step noise from the generator, in order', () => {
    const s = createScheduler('euler_a', config);
    s.setTimesteps(4);
    const a = new TorchCpuGenerator(5);
    s.step(modelOutput, 0, sample, a);
    const b = new TorchCpuGenerator(5);
    b.randn(sample.length);
    expect(Array.from(a.randn(3))).toEqual(Array.from(b.randn(3)));
  });
  it('DPM++ 2M refuses out-of-order steps instead of using stale history', () => {
    const s = createScheduler('dpmpp_2m', config);
    s.setTimesteps(6);
    const g = new TorchCpuGenerator(0);
    const x = s.step(modelOutput, 2, sample, g); // img2img may start part-way
    expect(() => s.step(modelOutput, 4, x, g)).toThrow(/expected step 3/);
  });
  it('refuses bad step counts and indices', () => {
    const s = createScheduler('ddim', config);
    expect(() => s.step(modelOutput, 0, sample, new TorchCpuGenerator(0))).toThrow(/setTimesteps/);
    expect(() => s.setTimesteps(0)).toThrow(RangeError);
    s.setTimesteps(5);
    expect(() => s.step(modelOutput, 5, sample, new TorchCpuGenerator(0))).toThrow(RangeError);
    expect(() => s.step(modelOutput.subarray(1), 0, sample, new TorchCpuGenerator(0))).toThrow(RangeError);
    expect(() => createScheduler('lcm', config).setTimesteps(51)).toThrow(/1 to 50/);
  });
});
