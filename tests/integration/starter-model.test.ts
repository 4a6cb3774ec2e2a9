import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationRequest } from '../../app/contract/index.js';
import { preprocessControl } from '../../app/engine/control/index.js';
import { encodePng } from '../../app/engine/image.js';
import { loadModel, runPipeline, type LoadedModel, type RgbaImage } from '../../app/engine/index.js';
import { readPngMetadata } from '../../app/formats/png-metadata.js';
import { tempHome } from '../helpers/home.js';

// The bundled starter model (resources/models/starter, made by training/) loads and draws
// through the engine: what the prompt says about the sky shows in the sky, and the sketch's
// horizon shows where it was drawn. Few steps keep this quick on two CPU cores.

const STARTER = path.resolve('resources/models/starter');
const SIZE = 256;
let model: LoadedModel;

beforeAll(async () => {
  model = await loadModel(STARTER, { device: 'cpu', controlnets: [path.join(STARTER, 'controlnet')] });
});
afterAll(async () => {
  await model?.release();
});

/** Dark pen on white paper: a horizon at y = horizonY and a house (box + roof) left of centre. */
function sketch(horizonY: number): RgbaImage {
  const data = new Uint8Array(SIZE * SIZE * 4).fill(255);
  const ink = (x: number, y: number) => {
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const xx = Math.round(x) + dx, yy = Math.round(y) + dy;
      if (xx >= 0 && yy >= 0 && xx < SIZE && yy < SIZE) data.fill(0, (yy * SIZE + xx) * 4, (yy * SIZE + xx) * 4 + 3);
    }
  };
  for (let x = 0; x < SIZE; x++) ink(x, horizonY + 3 * Math.sin(x / 20));
  for (let t = 0; t <= 1; t += 0.01) {
    ink(60 + 50 * t, horizonY + 10); ink(60 + 50 * t, horizonY + 50); ink(60, horizonY + 10 + 40 * t); ink(110, horizonY + 10 + 40 * t);
    ink(55 + 30 * t, horizonY + 10 - 25 * t); ink(85 + 30 * t, horizonY - 15 + 25 * t);
  }
  return { width: SIZE, height: SIZE, data };
}

async function draw(prompt: string, horizonY: number, seed = 7): Promise<RgbaImage> {
  const control = { type: 'scribble' as const, model: path.join(STARTER, 'controlnet'), image: { path: 'sketch.png' }, preprocess: 'scribble' as const };
  const request = GenerationRequest.parse({ model: STARTER, prompt, seed, steps: 10, cfg: 7, sampler: 'euler_a', width: SIZE, height: SIZE, controls: [control] });
  const result = await runPipeline(model, request, { controls: [preprocessControl(sketch(horizonY), request.controls[0]!)] });
  return result.candidates[0]!.image;
}

/** Mean R, G, B over rows [y0, y1). */
function meanRgb(img: RgbaImage, y0: number, y1: number): [number, number, number] {
  const s = [0, 0, 0];
  for (let y = y0; y < y1; y++) for (let x = 0; x < img.width; x++) for (let c = 0; c < 3; c++) s[c]! += img.data[(y * img.width + x) * 4 + c]!;
  const n = (y1 - y0) * img.width;
  return [s[0]! / n, s[1]! / n, s[2]! / n];
}
const luma = ([r, g, b]: [number, number, number]) => 0.299 * r + 0.587 * g + 0.114 * b;

describe('starter model', () => {
  it('is an SD-layout model with a scribble ControlNet, 256×256, within its 24 MB budget', () => {
    expect(model.info.acceptsControlnet).toBe(true);
    expect(model.info.controlnets).toEqual([path.join(STARTER, 'controlnet')]); // shipped, and listed once though also opened by folder
    expect(model.info.prediction).toBe('epsilon');
    expect(model.info.defaultWidth).toBe(SIZE);
    expect(model.info.textEmbedDim).toBe(256);
    let total = 0;
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else total += fs.statSync(p).size;
      }
    };
    walk(STARTER);
    expect(total).toBeLessThanOrEqual(24_000_000);
  });

  it('paints the sky the prompt asks for, above the horizon the sketch draws', async () => {
    const day = await draw('a red house in a field under a blue sky', 150);
    const night = await draw('a red house in a field at night', 150);
    expect(day.width).toBe(SIZE);
    const daySky = meanRgb(day, 0, 100);
    const dayGround = meanRgb(day, 200, SIZE);
    // Day: a blue sky over green ground.
    expect(daySky[2]).toBeGreaterThan(daySky[0] + 20);
    expect(dayGround[1]).toBeGreaterThan(dayGround[2]);
    // Night: a much darker sky than the day's.
    expect(luma(meanRgb(night, 0, 100))).toBeLessThan(luma(daySky) - 40);
  });

  it('moves the horizon where the sketch moves it', async () => {
    const high = await draw('green hills under a blue sky', 90, 3);
    const low = await draw('green hills under a blue sky', 190, 3);
    // Rows 110–170 lie below the high horizon (ground, green) and above the low one (sky, blue).
    const [, hg, hb] = meanRgb(high, 110, 170);
    const [, lg, lb] = meanRgb(low, 110, 170);
    expect(hg - hb).toBeGreaterThan(lg - lb + 20);
  });
});

describe('atelier generate with the starter model, as the model card shows it', () => {
  it('takes a scribble control with neither --controlnet nor --preprocess: the model ships its own ControlNet', async () => {
    const { home, cleanup } = tempHome();
    try {
      const sketchFile = path.join(home, 'sketch.png');
      fs.writeFileSync(sketchFile, await encodePng(sketch(120)));
      const out = path.join(home, 'out');
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['bin/atelier.mjs', 'generate', '--model', 'resources/models/starter', '--prompt', 'a red house beside a lake under a sunset sky', '--control', `scribble:${sketchFile}`, '--steps', '4', '--seed', '1', '--device', 'cpu', '--out', out, '--json'],
        { env: { ...process.env, ATELIER_HOME: home }, timeout: 120_000 },
      );
      const files = fs.readdirSync(out).filter((f) => f.endsWith('.png'));
      expect(files).toHaveLength(1);
      const meta = readPngMetadata(fs.readFileSync(path.join(out, files[0]!)));
      expect(meta.width).toBe(SIZE);
      expect(meta.chunks.parameters).toMatch(/ControlNet 0: "Module: scribble, Model: .*starter[\\/]controlnet/);
      expect(stdout.length).toBeGreaterThan(0);
    } finally {
      cleanup();
    }
  });
});
