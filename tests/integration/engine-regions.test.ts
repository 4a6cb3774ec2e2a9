import { describe, expect, it } from 'vitest';
import { GenerationRequest, type GenerationRequestInput } from '../../app/contract/index.js';
import { runPipeline, type LoadedModel, type PipelineImages, type RgbaImage } from '../../app/engine/index.js';
import { fixture, fixtureModels } from '../helpers/fixture-models.js';

// Regional prompts through the pipeline on the tiny fixtures (tests/fixtures/make_fixtures.py):
// a region of weight 0 is no region, a region over everything is its prompt alone, a half
// region changes its half, with ControlNets and SDXL too.

const load = fixtureModels();
const model = (name: string): Promise<LoadedModel> => load(fixture(name));

async function run(name: string, input: Partial<GenerationRequestInput>, images: PipelineImages = {}) {
  const request = GenerationRequest.parse({ model: fixture(name), prompt: 'a red house on a hill', negativePrompt: 'blurry', seed: 7, steps: 4, ...input });
  return (await runPipeline(await model(name), request, images)).candidates[0]!.image;
}

function columns(x0: number, x1: number, width = 64, height = 64): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = x >= x0 && x < x1 ? 255 : 0;
      data.set([v, v, v, 255], (y * width + x) * 4);
    }
  }
  return { width, height, data };
}

/** Mean absolute difference over the columns [x0, x1). */
function diff(a: RgbaImage, b: RgbaImage, x0 = 0, x1 = a.width): number {
  let s = 0;
  let count = 0;
  for (let y = 0; y < a.height; y++) {
    for (let x = x0; x < x1; x++) {
      for (let c = 0; c < 3; c++) s += Math.abs(a.data[(y * a.width + x) * 4 + c]! - b.data[(y * a.width + x) * 4 + c]!);
      count += 3;
    }
  }
  return s / count;
}

const region = (prompt: string, weight = 1, feather = 8) => ({ mask: { path: 'r.png' }, prompt, weight, feather });

describe('regional prompts', () => {
  it('a region of weight 0 is no region; a region over everything is its own prompt', async () => {
    const base = await run('sd1-tiny', {});
    const zero = await run('sd1-tiny', { regions: [region('a blue boat at sea', 0)] }, { regions: [columns(0, 32)] });
    expect(Buffer.from(zero.data).equals(Buffer.from(base.data))).toBe(true);
    const alone = await run('sd1-tiny', { prompt: 'a blue boat at sea' });
    const everywhere = await run('sd1-tiny', { regions: [region('a blue boat at sea', 1, 0)] }, { regions: [columns(0, 64)] });
    expect(diff(everywhere, alone)).toBeLessThan(0.5);
    expect(diff(base, alone)).toBeGreaterThan(2);
  });

  it('a left-half region changes the left half; the far right stays the base prompt\'s', async () => {
    const base = await run('sd1-tiny', {});
    const half = await run('sd1-tiny', { regions: [region('a blue boat at sea', 1, 4)] }, { regions: [columns(0, 32)] });
    const left = diff(half, base, 0, 24);
    const right = diff(half, base, 48, 64);
    console.log(`sd1-tiny, left-half region: mean |Δ| left ${left.toFixed(2)}, far right ${right.toFixed(2)}`);
    expect(left).toBeGreaterThan(1);
    expect(right).toBeLessThan(left / 10);
  });

  it('works with a ControlNet (each region pass gets the residuals of its own text) and with SDXL', async () => {
    const control = { type: 'scribble' as const, model: fixture('controlnet-tiny'), image: { path: 'c.png' }, weight: 1 };
    const withControl = await run('controlnet-unet-tiny', { controls: [control] }, { controls: [columns(20, 44)] });
    const withBoth = await run('controlnet-unet-tiny', { controls: [control], regions: [region('a blue boat at sea')] }, { controls: [columns(20, 44)], regions: [columns(0, 32)] });
    expect(diff(withBoth, withControl)).toBeGreaterThan(0.5);
    const sdxl = await run('sdxl-tiny', {});
    const sdxlRegion = await run('sdxl-tiny', { regions: [region('a blue boat at sea')] }, { regions: [columns(0, 32)] });
    expect(diff(sdxlRegion, sdxl)).toBeGreaterThan(0.5);
  });

  it('refuses regions without their masks', async () => {
    await expect(run('sd1-tiny', { regions: [region('a blue boat')] })).rejects.toThrow(/1 regions requested but 0 region masks/);
  });
});
