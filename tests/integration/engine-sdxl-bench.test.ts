import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// `npm run bench:engine -- --model <sdxl fixture> --refiner <refiner>` reports every stage of an
// SDXL run apart: both text encoders, the base's and the refiner's UNet steps, the VAE decode,
// and the peak RSS (docs/engine.md, "Memory").

const run = promisify(execFile);
const FIXTURES = path.resolve('tests/fixtures/models');

interface BenchRow {
  family: string;
  tokenizeMs: number;
  textEncoder1Ms: number;
  textEncoder2Ms: number;
  unetSteps: number;
  unetStepMeanMs: number;
  refinerSteps?: number;
  refinerStepMeanMs?: number;
  refinerTextEncoderMs?: number;
  vaeDecodeMs: number;
  totalMs: number;
}

async function bench(...args: string[]): Promise<{ peakRssMb: number; results: BenchRow[] }> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/engine.ts', '--device', 'cpu', '--steps', '5', '--json', ...args], { timeout: 90_000 });
  return JSON.parse(stdout) as { peakRssMb: number; results: BenchRow[] };
}

describe('bench:engine on SDXL', () => {
  it('times both text encoders, the base and refiner steps apart, the decode, and the peak RSS', async () => {
    const out = await bench('--model', path.join(FIXTURES, 'sdxl-tiny'), '--refiner', `${path.join(FIXTURES, 'sdxl-refiner-tiny')}:0.6`);
    const r = out.results[0]!;
    expect(r.family).toBe('sdxl');
    for (const k of ['tokenizeMs', 'textEncoder1Ms', 'textEncoder2Ms', 'unetStepMeanMs', 'refinerStepMeanMs', 'refinerTextEncoderMs', 'vaeDecodeMs'] as const) expect(r[k], k).toBeGreaterThan(0);
    // 5 steps split at 0.6 of the schedule: the base runs 3, the refiner the 2 after (diffusers' denoising_end/start).
    expect([r.unetSteps, r.refinerSteps]).toEqual([3, 2]);
    expect(out.peakRssMb).toBeGreaterThan(50);

    const plain = (await bench('--model', path.join(FIXTURES, 'sdxl-tiny'))).results[0]!;
    expect(plain.unetSteps).toBe(5);
    expect(plain.refinerSteps).toBeUndefined();
  }, 120_000);
});
