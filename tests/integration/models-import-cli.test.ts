import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ldmCheckpointTensors, writeSafetensors } from '../helpers/ldm-checkpoint.js';
import { tempHome } from '../helpers/home.js';

// `atelier models import` as a user runs it (a child process; docs/models.md): a small
// synthetic SD 1.x single file whose sizes need no hints (32 norm groups, 768-wide CLIP,
// 8 heads) becomes a registered model; a pickle is refused with exit code 1.

const run = promisify(execFile);
const BIN = path.resolve('bin/atelier.mjs');
const { home, cleanup } = tempHome('atelier-import-cli-');
let file: string;

async function atelier(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { ...process.env, ATELIER_HOME: home }, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

beforeAll(() => {
  file = path.join(home, 'small-sd1.safetensors');
  writeSafetensors(file, ldmCheckpointTensors({ unet: [32, 64], vae: [32, 32], clipLayers: 1, vocab: 1000 }));
});
afterAll(cleanup);

describe('atelier models import', () => {
  it('imports a single-file SD 1.x checkpoint and registers it', async () => {
    const r = await atelier('models', 'import', file, '--name', 'Small SD1', '--json');
    expect(r.stderr).not.toMatch(/atelier:/);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { name: string; path: string; family: string; prediction: string; predictionFrom: string; source: { sha256: string; autov2: string }; id: string };
    expect(out).toMatchObject({ name: 'Small SD1', family: 'sd1', prediction: 'epsilon', predictionFrom: 'default', path: path.join(home, 'models', 'Small SD1') });
    expect(out.source.autov2).toBe(out.source.sha256.slice(0, 10));
    const settings = JSON.parse(fs.readFileSync(path.join(home, 'settings.json'), 'utf8')) as { models: { id: string; path: string }[] };
    expect(settings.models).toEqual([expect.objectContaining({ id: out.id, path: out.path })]);
    const inspect = await atelier('models', 'inspect', out.path, '--json');
    // sample_size 64 (SD 1.x) × this two-level VAE's factor 2
    expect(JSON.parse(inspect.stdout)).toMatchObject({ family: 'sd1', dtype: 'float16', acceptsControlnet: true, defaultWidth: 128 });
  });

  it('refuses a pickle with a message naming it', async () => {
    const ckpt = path.join(home, 'old.ckpt');
    fs.writeFileSync(ckpt, 'x');
    const r = await atelier('models', 'import', ckpt);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/atelier: old\.ckpt is a pickle \(\.ckpt\/\.pt\/\.bin\), which can run code when loaded/);
  });
});
