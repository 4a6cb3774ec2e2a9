import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { encodePng } from '../../app/engine/image.js';
import { readPngMetadata } from '../../app/formats/png-metadata.js';
import { writeNewPng } from '../../app/service/image-export.js';
import { tempHome } from '../helpers/home.js';

// `atelier generate` and `atelier models inspect` as a user runs them: a child process.

const run = promisify(execFile);
const BIN = path.resolve('bin/atelier.mjs');
const MODELS = path.resolve('tests/fixtures/models');
const { home, cleanup } = tempHome();
afterAll(cleanup);

async function atelier(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { ...process.env, ATELIER_HOME: home }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('atelier generate', () => {
  it('writes one PNG per candidate with A1111 parameters and the record', async () => {
    const out = path.join(home, 'out');
    const r = await atelier('generate', '--model', path.join(MODELS, 'sd1-tiny'), '--prompt', 'a red house', '--negative', 'blurry', '--seed', '5', '--steps', '3', '--batch', '2', '--sampler', 'euler_a', '--device', 'cpu', '--out', out, '--json');
    expect(r.stderr).not.toMatch(/atelier:/);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { files: string[]; seeds: number[]; device: string };
    expect(summary.seeds).toEqual([5, 6]);
    expect(summary.device).toBe('cpu');
    expect(summary.files).toHaveLength(2);
    const meta = readPngMetadata(fs.readFileSync(summary.files[1]!));
    expect(meta.width).toBe(64);
    const params = meta.chunks.parameters ?? '';
    expect(params).toContain('a red house\nNegative prompt: blurry\nSteps: 3, Sampler: Euler a');
    expect(params).toContain('Seed: 6');
    // the record's shape belongs to the library (atelierRecord); here only that it names this candidate
    const record = JSON.parse(meta.chunks.atelier!) as { index?: number; candidate?: { index: number } };
    expect(record.index ?? record.candidate?.index).toBe(1);
    expect(meta.chunks.atelier).toContain('"seed":6');
  });

  it('runs img2img, inpainting and ControlNet from image files', async () => {
    const img = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 7) % 256)) };
    const mask = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 4).map((_, i) => (i % 4 === 3 || (Math.floor(i / 4) % 64 > 20 && Math.floor(i / 256) > 20) ? 255 : 0)) };
    const init = path.join(home, 'init.png');
    const maskFile = path.join(home, 'mask.png');
    fs.writeFileSync(init, await encodePng(img));
    fs.writeFileSync(maskFile, await encodePng(mask));
    const out = path.join(home, 'out2');
    const inpaint = await atelier('generate', '--model', path.join(MODELS, 'inpaint-tiny'), '--prompt', 'a tree', '--seed', '1', '--steps', '2', '--init', init, '--mask', maskFile, '--only-masked', '--out', out, '--json');
    expect(inpaint.code, inpaint.stderr).toBe(0);
    const pasted = readPngMetadata(fs.readFileSync((JSON.parse(inpaint.stdout) as { files: string[] }).files[0]!));
    expect([pasted.width, pasted.height]).toEqual([64, 64]); // the crop went back into the full image
    const control = await atelier('generate', '--model', path.join(MODELS, 'controlnet-unet-tiny'), '--prompt', 'a tree', '--seed', '1', '--steps', '2', '--control', `scribble:${init}:0.8:0:0.5`, '--controlnet', path.join(MODELS, 'controlnet-tiny'), '--preprocess', 'scribble', '--out', out, '--json');
    expect(control.code, control.stderr).toBe(0);
    const img2img = await atelier('generate', '--model', path.join(MODELS, 'sd1-tiny-optimum'), '--prompt', 'a tree', '--seed', '1', '--steps', '2', '--init', init, '--strength', '0.6', '--out', out, '--json');
    expect(img2img.code, img2img.stderr).toBe(0);
    expect(fs.readdirSync(out).filter((f) => f.endsWith('.png'))).toHaveLength(3);
  });

  it('never overwrites an earlier image: a taken name gets -2, -3, …, and no temp file stays', async () => {
    const out = path.join(home, 'out3');
    const names: string[] = [];
    for (const text of ['first', 'second', 'third']) names.push(await writeNewPng(out, '20261126-120000-9', Buffer.from(text)));
    expect(names.map((f) => path.basename(f))).toEqual(['20261126-120000-9.png', '20261126-120000-9-2.png', '20261126-120000-9-3.png']);
    expect(names.map((f) => fs.readFileSync(f, 'utf8'))).toEqual(['first', 'second', 'third']);
    expect(fs.readdirSync(out).sort()).toEqual(names.map((f) => path.basename(f)).sort());
  });

  it('exits non-zero with a clear message on bad input', async () => {
    const model = path.join(MODELS, 'sd1-tiny');
    const cases: Array<[string[], RegExp]> = [
      [['--model', path.join(MODELS, 'nope'), '--prompt', 'x'], /model folder .*nope does not exist/],
      [['--model', model, '--prompt', 'x', '--init', path.join(home, 'missing.png')], /init image .*missing\.png does not exist/],
      [['--model', model, '--prompt', 'x', '--width', '72'], /width 72 is not a multiple of 16/],
      [['--model', model, '--prompt', 'x', '--sampler', 'heun'], /argument 'heun' is invalid/],
      [['--model', model, '--prompt', 'x', '--steps', 'many'], /steps must be a whole number/],
      [['--model', model, '--prompt', 'x', '--control', `scribble:${path.join(MODELS, '..', 'make_fixtures.py')}`], /1 --control given but 0 --controlnet/],
      [['--model', model, '--prompt', 'x', '--control', `scribble:${BIN}`, '--controlnet', path.join(MODELS, 'controlnet-tiny')], /no UNet that accepts ControlNet residuals|not a readable image/],
      [['--model', path.join(MODELS, 'broken-missing-unet'), '--prompt', 'x'], /unet\/model\.onnx is missing/],
      [['--model', model, '--prompt', 'x', '--seed', '0x10'], /seed must be a whole number written in decimal digits, not "0x10"/],
      [['--model', model, '--prompt', 'x', '--control', `scribble:${path.join(home, 'small.png')}:NaN`], /WEIGHT "NaN" is not a number/],
      [['--model', model, '--prompt', 'x', '--control', `scribble:${path.join(home, 'small.png')}:0.5:x:1`], /START "x" is not a number/],
      [['--model', model, '--prompt', 'x', '--init', path.join(home, 'big.png'), '--mask', path.join(home, 'small.png')], /--mask is 32×32 but --init is 64×48/],
    ];
    fs.writeFileSync(path.join(home, 'small.png'), await encodePng({ width: 32, height: 32, data: new Uint8Array(32 * 32 * 4).fill(255) }));
    fs.writeFileSync(path.join(home, 'big.png'), await encodePng({ width: 64, height: 48, data: new Uint8Array(64 * 48 * 4).fill(255) }));
    // three at a time: each is a Node start-up, and the build machines have two cores
    const results: Array<{ code: number; stdout: string; stderr: string }> = [];
    for (let i = 0; i < cases.length; i += 3) {
      results.push(...(await Promise.all(cases.slice(i, i + 3).map(([args]) => atelier('generate', ...args, '--out', path.join(home, 'never'))))));
    }
    cases.forEach(([args, message], i) => {
      expect(results[i]!.code, args.join(' ')).not.toBe(0);
      expect(results[i]!.stderr + results[i]!.stdout, args.join(' ')).toMatch(message);
    });
    expect(fs.existsSync(path.join(home, 'never'))).toBe(false);
  });

  it('refuses an --out that cannot be a folder before any work, and records nothing', async () => {
    const file = path.join(home, 'a-file.png');
    fs.writeFileSync(file, 'not a folder');
    const model = path.join(MODELS, 'sd1-tiny');
    const cases: Array<[string, RegExp]> = [
      [file, /Cannot write into .*a-file\.png: it is a file, not a folder/],
      [path.join(file, 'sub'), /a-file\.png is a file, not a folder/],
      ['/proc/x', /special file system/],
      ['/sys/kernel', /special file system/],
      ['/dev/null', /special file system/],
    ];
    const results = await Promise.all(cases.map(([out]) => atelier('generate', '--model', model, '--prompt', 'never made', '--steps', '2', '--out', out)));
    cases.forEach(([out, message], i) => {
      expect(results[i]!.code, out).toBe(1);
      expect(results[i]!.stderr, out).toMatch(message);
      expect(results[i]!.stderr, out).not.toMatch(/EEXIST|ENOTDIR|step/);
    });
    expect(fs.readFileSync(file, 'utf8')).toBe('not a folder');
    const history = await atelier('history', 'search', 'never', 'made', '--json');
    expect((JSON.parse(history.stdout) as { total: number }).total).toBe(0);
  });

  it('writes the very bytes the history holds, so the file and the entry agree', async () => {
    const out = path.join(home, 'out4');
    const r = await atelier('generate', '--model', path.join(MODELS, 'sd1-tiny'), '--prompt', 'a blue door', '--seed', '3', '--steps', '2', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const { files, generationId } = JSON.parse(r.stdout) as { files: string[]; generationId: string };
    const shown = await atelier('history', 'show', generationId, '--json');
    const record = JSON.parse(shown.stdout) as { candidates: Array<{ sha256: string }> };
    const sha = crypto.createHash('sha256').update(fs.readFileSync(files[0]!)).digest('hex');
    expect(record.candidates.map((c) => c.sha256)).toEqual([sha]);
  });
});

describe('atelier generate, interrupted', () => {
  it('cancels the job on Ctrl+C: recorded as cancelled, no PNG written', async () => {
    const out = path.join(home, 'out-cancelled');
    const child = spawn(process.execPath, [BIN, 'generate', '--model', path.join(MODELS, 'sd1-tiny'), '--prompt', 'stopped halfway', '--steps', '40', '--batch', '16', '--device', 'cpu', '--out', out], { env: { ...process.env, ATELIER_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!sent && /step \d+\/40/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(sent).toBe(true);
    expect(code).toBe(1);
    expect(stderr).toMatch(/atelier: .*cancelled/i);
    expect(fs.existsSync(out)).toBe(false);
    const found = await atelier('history', 'search', 'stopped', 'halfway', '--json');
    const items = (JSON.parse(found.stdout) as { items: Array<{ status: string; candidates: unknown[] }> }).items;
    expect(items.map((g) => [g.status, g.candidates.length])).toEqual([['cancelled', 0]]);
  });
});

describe('atelier models inspect', () => {
  it('prints what the model is, or JSON', async () => {
    const text = await atelier('models', 'inspect', path.join(MODELS, 'sd2-vpred-tiny'));
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/family\s+sd2/);
    expect(text.stdout).toMatch(/prediction v_prediction/);
    const json = await atelier('models', 'inspect', path.join(MODELS, 'inpaint-tiny'), '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ inpainting: true, unetInChannels: 9 });
    const cn = await atelier('models', 'inspect', path.join(MODELS, 'controlnet-tiny'), '--json');
    expect(JSON.parse(cn.stdout)).toMatchObject({ kind: 'controlnet', textWidth: 768, residuals: 5 });
    const broken = await atelier('models', 'inspect', path.join(MODELS, 'broken-dim-mismatch'));
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('text_encoder output dim 768 does not match unet cross-attention dim 1024');
  });
});
