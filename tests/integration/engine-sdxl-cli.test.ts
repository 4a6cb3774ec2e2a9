import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage, encodePng } from '../../app/engine/image.js';
import { tempHome } from '../helpers/home.js';

// `atelier generate` and `atelier models inspect` on the SDXL fixtures, as a user runs them:
// every mode makes the same image for the same seed, and inspect says sdxl with its parts.

const run = promisify(execFile);
const BIN = path.resolve('bin/atelier.mjs');
const MODELS = path.resolve('tests/fixtures/models');
const { home, cleanup } = tempHome();
afterAll(cleanup);

async function atelier(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { ...process.env, ATELIER_HOME: home }, timeout: 90_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Runs `atelier generate … --json` into a fresh folder; the SHA-256 of each image's pixels. */
async function generate(name: string, args: string[]): Promise<string[]> {
  const out = path.join(home, name);
  const r = await atelier('generate', ...args, '--device', 'cpu', '--out', out, '--json');
  expect(r.code, r.stderr).toBe(0);
  const files = (JSON.parse(r.stdout) as { files: string[] }).files;
  // The PNG carries the record (dates, ids), so compare the decoded pixels, not the bytes.
  return Promise.all(files.map(async (f) => crypto.createHash('sha256').update((await decodeImage(fs.readFileSync(f))).data).digest('hex')));
}

describe('atelier on SDXL', () => {
  it('inspects an SDXL folder as sdxl with both text encoders', async () => {
    const r = await atelier('models', 'inspect', path.join(MODELS, 'sdxl-tiny'), '--json');
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout) as { family: string; components: Record<string, unknown>; sizePresets: unknown[] };
    expect(info.family).toBe('sdxl');
    expect(Object.keys(info.components)).toEqual(expect.arrayContaining(['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder']));
    expect(info.sizePresets.length).toBeGreaterThan(1);
  });

  it('makes reproducible images in txt2img, img2img, inpainting and ControlNet', async () => {
    const img = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 7) % 256)) };
    const mask = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 4).map((_, i) => (i % 4 === 3 || (Math.floor(i / 4) % 64 > 20 && Math.floor(i / 256) > 20) ? 255 : 0)) };
    const init = path.join(home, 'init.png');
    const maskFile = path.join(home, 'mask.png');
    fs.writeFileSync(init, await encodePng(img));
    fs.writeFileSync(maskFile, await encodePng(mask));
    const base = path.join(MODELS, 'sdxl-tiny');
    const common = ['--prompt', 'a castle on the (hill:1.2)', '--negative', 'blurry', '--seed', '21', '--steps', '3', '--sampler', 'euler'];
    const modes: Array<[string, string[]]> = [
      ['txt2img', ['--model', base, ...common, '--batch', '2']],
      ['img2img', ['--model', base, ...common, '--init', init, '--strength', '0.7']],
      ['inpaint', ['--model', path.join(MODELS, 'sdxl-inpaint-tiny'), ...common, '--init', init, '--mask', maskFile]],
      ['control', ['--model', base, ...common, '--control', `scribble:${init}:0.8`, '--controlnet', path.join(MODELS, 'sdxl-controlnet-tiny'), '--preprocess', 'scribble']],
    ];
    const seen = new Set<string>();
    for (const [name, args] of modes) {
      const first = await generate(`${name}-1`, args);
      const again = await generate(`${name}-2`, args);
      expect(again, name).toEqual(first);
      for (const h of first) seen.add(h);
    }
    expect(seen.size).toBe(5); // every mode (and both candidates) made its own image
  }, 300_000); // eight CLI runs, each a Node start-up and a studio service, on two shared cores
});
