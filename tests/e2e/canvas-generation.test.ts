import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import type { Locator, Request } from 'playwright-core';
import { type Studio, startStudio } from './harness.js';
import { type DocPoint, StudioPage } from './pages/studio-page.js';

// The canvas drives generation (issue 12), with the shipped starter model on the CPU: every
// mark of the sketch (strokes and shapes) is in the scribble map sent; a control the starter's
// scribble ControlNet cannot take is flagged on its layer and not sent; paint over a candidate
// lands on a new paint layer and pulls the refined results toward the paint, compared with
// the same refine without it. Pixels are read from the requests sent and the images returned.

let studio: Studio;
let ui: StudioPage;
/** Every `generate` request the page sent, in order. */
const sent: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  studio = await startStudio();
  ui = new StudioPage(studio.page);
  studio.page.on('request', (req: Request) => {
    if (!req.url().endsWith('/api/call') || req.method() !== 'POST') return;
    const body = req.postDataJSON() as { method?: string; params?: { request?: Record<string, unknown> } };
    if (body.method === 'generate' && body.params?.request) sent.push(body.params.request);
  });
  await ui.ready();
});
afterAll(async () => {
  await studio?.stop();
});

/** An attribute of every element a locator matches ('' where absent). */
function attributes(locator: Locator, name: string): Promise<string[]> {
  return locator.evaluateAll((els, n) => els.map((e) => (e as unknown as { getAttribute(a: string): string | null }).getAttribute(n) ?? ''), name);
}

function decode(base64: string): PNG {
  return PNG.sync.read(Buffer.from(base64, 'base64'));
}

/** Mean [r, g, b] of a decoded PNG over a rectangle. */
function mean(png: PNG, r: { x: number; y: number; width: number; height: number }): [number, number, number] {
  const sum = [0, 0, 0];
  for (let y = r.y; y < r.y + r.height; y++) {
    for (let x = r.x; x < r.x + r.width; x++) {
      const i = (y * png.width + x) * 4;
      for (let c = 0; c < 3; c++) sum[c]! += png.data[i + c] ?? 0;
    }
  }
  const n = r.width * r.height;
  return [sum[0]! / n, sum[1]! / n, sum[2]! / n];
}

function ink(png: PNG, p: DocPoint): number {
  const i = (p.y * png.width + p.x) * 4;
  return 255 - ((png.data[i] ?? 0) + (png.data[i + 1] ?? 0) + (png.data[i + 2] ?? 0)) / 3;
}

/** The candidates in the strip once a new generation of `count` has replaced `before`. */
async function nextCandidates(before: string[], count: number): Promise<string[]> {
  const ids = () => attributes(ui.candidates(), 'data-candidate-id');
  await expect.poll(async () => {
    const now = await ids();
    return now.length === count && now.every((id) => !before.includes(id));
  }, { timeout: 170_000 }).toBe(true);
  return ids();
}

/** The strip's candidate images, read back through the page as PNG. */
async function candidateImages(): Promise<PNG[]> {
  const urls = await attributes(ui.candidates().locator('img'), 'src');
  return Promise.all(
    urls.map(async (url) => {
      const base64 = await ui.page.evaluate(async (u) => {
        const bytes = new Uint8Array(await (await fetch(u)).arrayBuffer());
        let s = '';
        for (const b of bytes) s += String.fromCharCode(b);
        return btoa(s);
      }, url);
      return decode(base64);
    }),
  );
}

/** Yellow-ness: red and green over blue. */
const yellow = ([r, g, b]: [number, number, number]) => (r + g) / 2 - b;

describe('the canvas drives generation (starter model)', () => {
  let firstIds: string[] = [];

  it('sends every mark of the sketch — strokes and shapes — in the scribble map', async () => {
    // The starter is listed and chosen: its 256×256 frame.
    await expect.poll(() => ui.frameSize(), { timeout: 30_000 }).toEqual({ width: 256, height: 256 });
    await ui.settings({ steps: 8, batch: 2, seed: 1234 });
    await ui.page.getByTestId('seed-policy').selectOption('fixed');
    await ui.setPrompt('a red house beside a lake under a blue sky, the sun');
    await ui.press('b');
    await ui.page.getByTestId('stroke-width').fill('4');
    await ui.drag([{ x: 20, y: 40 }, { x: 60, y: 40 }]);
    await ui.press('l');
    await ui.drag([{ x: 0, y: 170 }, { x: 255, y: 170 }]);
    await ui.press('r');
    await ui.drag([{ x: 70, y: 90 }, { x: 150, y: 160 }]);
    await ui.press('o');
    await ui.drag([{ x: 180, y: 20 }, { x: 230, y: 70 }]);
    expect(await ui.layerNames()).toContain('Shapes');
    await ui.page.getByTestId('generate').click();
    firstIds = await nextCandidates([], 2);

    const request = sent.at(-1)!;
    expect(request.init).toBeUndefined();
    const controls = request.controls as Array<{ type: string; image: { png: string } }>;
    expect(controls.map((c) => c.type)).toEqual(['scribble']);
    const map = decode(controls[0]!.image.png);
    expect([map.width, map.height]).toEqual([256, 256]);
    // The brush stroke, the line, the rectangle's edges and the ellipse's top are all dark ink.
    for (const p of [{ x: 40, y: 40 }, { x: 128, y: 170 }, { x: 70, y: 120 }, { x: 110, y: 90 }, { x: 205, y: 20 }]) expect(ink(map, p)).toBeGreaterThan(150);
    // Inside the rectangle and the sky stay paper.
    for (const p of [{ x: 110, y: 125 }, { x: 120, y: 20 }]) expect(ink(map, p)).toBeLessThan(20);
  }, 200_000);

  it('flags a Canny control on its layer with the starter (a scribble ControlNet) and does not send it', async () => {
    const seed = await ui.candidates().first().getAttribute('data-seed');
    await ui.candidates().first().getByTestId('accept').click();
    await expect.poll(() => ui.layerNames()).toContain(`Seed ${seed}`);
    await ui.layer(`Seed ${seed}`).click();
    await ui.page.getByTestId('canny-from-layer').click();
    const canny = ui.layer('Canny control');
    await expect.poll(() => canny.getByTestId('layer-warning').getAttribute('title')).toMatch(/takes scribble maps, not canny/);
    await expect.poll(() => ui.page.getByTestId('control-warning').first().textContent()).toMatch(/not used/);
    // Out again so the refines below compare like with like.
    await canny.getByTestId('layer-delete').click();
    await expect.poll(() => ui.layerNames()).not.toContain('Canny control');
  });

  it('paints over a candidate on a new paint layer, and the refine moves toward the paint', async () => {
    const seed = await ui.candidates().first().getAttribute('data-seed');
    const area = { x: 64, y: 64, width: 128, height: 128 };
    await ui.page.getByTestId('seed').fill('777');

    // Refine without paint.
    await ui.candidates().first().getByTestId('refine').click();
    const plainIds = await nextCandidates(firstIds, 2);
    const plainRequest = sent.at(-1)!;
    expect(plainRequest.parentCandidateId).toBeTruthy();
    const plain = (await candidateImages()).map((png) => yellow(mean(png, area)));

    // Paint a yellow patch over the candidate (it is selected): a paint layer right above it.
    await ui.page.locator('[data-testid="project-tree-node"][data-mode="txt2img"]').click();
    await expect.poll(() => ui.candidates().first().getAttribute('data-candidate-id')).toBe(firstIds[0]);
    await ui.layer(`Seed ${seed}`).click();
    await ui.press('b');
    await ui.page.getByTestId('colour').fill('#ffd800');
    await ui.page.getByTestId('stroke-width').fill('40');
    await ui.page.evaluate(`(() => {
      const frames = [];
      window.__frames = frames;
      window.__measuring = true;
      const tick = (t) => { frames.push(t); if (window.__measuring) requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    })()`);
    for (let y = 76; y <= 180; y += 26) await ui.drag([{ x: 72, y }, { x: 184, y }], { steps: 8 });
    const frames = (await ui.page.evaluate('(() => { window.__measuring = false; return window.__frames; })()')) as number[];
    const intervals = frames.slice(1).map((t, i) => t - (frames[i] ?? t)).sort((a, b) => a - b);
    const pct = (p: number) => Math.round((intervals[Math.min(intervals.length - 1, Math.floor((p / 100) * intervals.length))] ?? NaN) * 10) / 10;
    console.log(`paint-over frame times (5 strokes on a paint layer over a candidate): ${JSON.stringify({ frames: intervals.length, p50: pct(50), p95: pct(95), max: pct(100) })}`);

    const kindsOnly = await attributes(ui.layers(), 'data-kind');
    const selected = await attributes(ui.layers(), 'aria-selected');
    const kinds = kindsOnly.map((k, i) => [k, selected[i]]);
    const paintAt = kinds.findIndex(([k]) => k === 'paint');
    // Top first: the paint layer sits right above the candidate, and is the selected one.
    expect(kinds[paintAt]).toEqual(['paint', 'true']);
    expect(kinds[paintAt + 1]?.[0]).toBe('generated');
    await expect.poll(async () => yellow(await ui.pixel({ x: 128, y: 128 }))).toBeGreaterThan(150);
    // One undo takes the stroke away, redo brings it back.
    await ui.undo();
    await ui.redo();

    // The same refine, now with the paint-over.
    await ui.candidates().first().getByTestId('refine').click();
    await nextCandidates([...firstIds, ...plainIds], 2);
    const paintedRequest = sent.at(-1)!;
    expect(paintedRequest.parentCandidateId).toBe(plainRequest.parentCandidateId);
    expect(paintedRequest.seed).toBe(plainRequest.seed);
    // The init image is what the frame shows: the paint is in it.
    const init = decode((paintedRequest.init as { png: string }).png);
    expect(yellow(mean(init, { x: 96, y: 96, width: 64, height: 64 }))).toBeGreaterThan(150);
    const painted = (await candidateImages()).map((png) => yellow(mean(png, area)));
    console.log(`refine yellow-ness of the painted area (mean (r+g)/2-b): without paint ${JSON.stringify(plain.map(Math.round))}, with paint ${JSON.stringify(painted.map(Math.round))}`);
    for (let i = 0; i < painted.length; i++) expect(painted[i]!).toBeGreaterThan(plain[i]! + 20);
  }, 400_000);

  it('generates from a dropped picture: it is the init image of an img2img', async () => {
    ui.page.once('dialog', (d) => void d.accept()); // "Discard unsaved changes?"
    await ui.newProject();
    // Left half red, right half blue.
    const png = new PNG({ width: 256, height: 256 });
    for (let i = 0; i < 256 * 256; i++) png.data.set(i % 256 < 128 ? [220, 30, 30, 255] : [30, 30, 220, 255], i * 4);
    const b64 = PNG.sync.write(png).toString('base64');
    await ui.page.evaluate(`(async () => {
      const bytes = Uint8Array.from(atob('${b64}'), (c) => c.charCodeAt(0));
      const data = new DataTransfer();
      data.items.add(new File([bytes], 'halves.png', { type: 'image/png' }));
      window.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    })()`);
    await expect.poll(() => ui.layerNames()).toContain('halves.png');
    // The automatic mode sees a picture in the frame: from canvas.
    await expect.poll(() => ui.page.getByTestId('mode-control').getAttribute('data-mode')).toBe('canvas');
    const before = await attributes(ui.candidates(), 'data-candidate-id');
    await ui.page.getByTestId('generate').click();
    await nextCandidates(before, 2);
    const request = sent.at(-1)!;
    expect(request.strength).toBeCloseTo(0.6, 5);
    const init = decode((request.init as { png: string }).png);
    const [lr, , lb] = mean(init, { x: 16, y: 16, width: 96, height: 224 });
    const [rr, , rb] = mean(init, { x: 144, y: 16, width: 96, height: 224 });
    expect(lr - lb).toBeGreaterThan(150);
    expect(rb - rr).toBeGreaterThan(150);
    // The results keep the halves (strength 0.6 leaves the colours where they were).
    for (const out of await candidateImages()) {
      const [r1, , b1] = mean(out, { x: 16, y: 16, width: 96, height: 224 });
      const [r2, , b2] = mean(out, { x: 144, y: 16, width: 96, height: 224 });
      expect(r1 - b1).toBeGreaterThan(r2 - b2);
    }
  }, 200_000);

  it('moves and scales the dropped picture with the transform tool, each drag one undo step (frame times reported)', async () => {
    const red = async (p: DocPoint) => {
      const [r, g, b] = await ui.pixel(p);
      return r > 150 && g < 100 && b < 100;
    };
    // The name, not the row's middle: a selected row holds the opacity slider there.
    await ui.layer('halves.png').getByTestId('layer-name').click();
    await ui.press('t');
    expect(await red({ x: 20, y: 128 })).toBe(true);
    await ui.page.evaluate(`(() => {
      const frames = [];
      window.__frames = frames;
      window.__measuring = true;
      const tick = (t) => { frames.push(t); if (window.__measuring) requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    })()`);
    // Move by (50, 20): the paper shows where the left edge was.
    await ui.drag([{ x: 100, y: 100 }, { x: 125, y: 110 }, { x: 150, y: 120 }], { steps: 10 });
    const frames = (await ui.page.evaluate('(() => { window.__measuring = false; return window.__frames; })()')) as number[];
    const intervals = frames.slice(1).map((t, i) => t - (frames[i] ?? t)).sort((a, b) => a - b);
    const pct = (p: number) => Math.round((intervals[Math.min(intervals.length - 1, Math.floor((p / 100) * intervals.length))] ?? NaN) * 10) / 10;
    console.log(`transform drag frame times (move of a 256 px picture): ${JSON.stringify({ frames: intervals.length, p50: pct(50), p95: pct(95), max: pct(100) })}`);
    await expect.poll(() => ui.isWhite({ x: 20, y: 128 })).toBe(true);
    expect(await red({ x: 60, y: 128 })).toBe(true);
    // Scale from the top-left handle, keeping the aspect: the picture shrinks toward its far corner.
    await ui.drag([{ x: 50, y: 20 }, { x: 100, y: 70 }], { steps: 10 });
    await expect.poll(() => ui.isWhite({ x: 60, y: 128 })).toBe(true);
    expect(await red({ x: 110, y: 128 })).toBe(true);
    // One undo per drag.
    await ui.undo();
    await expect.poll(() => red({ x: 60, y: 128 })).toBe(true);
    expect(await ui.isWhite({ x: 20, y: 128 })).toBe(true);
    await ui.undo();
    await expect.poll(() => red({ x: 20, y: 128 })).toBe(true);
  }, 60_000);

  it('extends the picture 128 px to the right: the canvas grows, the strip continues the edge, the old pixels stay exact', async () => {
    await ui.press('v');
    await ui.drag([{ x: 100, y: 100 }, { x: 164, y: 100 }, { x: 228, y: 100 }], { steps: 8 });
    await expect.poll(() => ui.canvas.getAttribute('data-frame')).toBe('128,0,256,256');
    await expect.poll(() => ui.page.getByTestId('mode-control').getAttribute('data-mode')).toBe('extend');
    const before = await attributes(ui.candidates(), 'data-candidate-id');
    await ui.page.getByTestId('generate').click();
    await nextCandidates(before, 2);
    const request = sent.at(-1)!;
    const init = decode((request.init as { png: string }).png);
    const inpaint = request.inpaint as { mask: { png: string }; blur: number };
    const mask = decode(inpaint.mask.png);
    const keep = Math.ceil(3 * inpaint.blur) + 1;
    // Black (keep) over the canvas's part of the frame and the feather margin, white past it.
    expect(mask.data[(128 * 256 + 64) * 4]).toBe(0);
    expect(mask.data[(128 * 256 + 128 + keep - 1) * 4]).toBe(0);
    expect(mask.data[(128 * 256 + 200) * 4]).toBe(255);
    // The init's new strip is the picture's edge stretched out: blue, as the right half is.
    const [ir, , ib] = mean(init, { x: 140, y: 16, width: 100, height: 224 });
    expect(ib - ir).toBeGreaterThan(150);

    const images = await candidateImages();
    for (const out of images) {
      // The old pixels come back exactly.
      let differing = 0;
      for (let y = 0; y < 256; y++) for (let x = 0; x < 128; x++) for (let c = 0; c < 3; c++) if (out.data[(y * 256 + x) * 4 + c] !== init.data[(y * 256 + x) * 4 + c]) differing++;
      expect(differing).toBe(0);
      // The new strip continues the edge it touches (the blue half), not the picture's red half.
      const strip = mean(out, { x: 128 + keep, y: 16, width: 40, height: 224 });
      const edge = mean(init, { x: 120, y: 16, width: 8, height: 224 });
      const far = [220, 30, 30];
      const dist = (a: number[], b: number[]) => Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!);
      console.log(`outpainted strip mean ${JSON.stringify(strip.map(Math.round))}: ${Math.round(dist(strip, edge))} from the edge, ${Math.round(dist(strip, far))} from the far side`);
      expect(dist(strip, edge)).toBeLessThan(dist(strip, far));
      expect(strip[2]).toBeGreaterThan(strip[0]);
    }

    await ui.candidates().first().getByTestId('accept').click();
    await expect.poll(() => ui.canvas.getAttribute('data-canvas')).toBe('384x256');
    // Accepting is one undo step: the canvas shrinks back.
    await ui.undo();
    await expect.poll(() => ui.canvas.getAttribute('data-canvas')).toBe('256x256');
    await ui.redo();
    await expect.poll(() => ui.canvas.getAttribute('data-canvas')).toBe('384x256');
    await ui.page.screenshot({ path: '/tmp/shots/outpaint.png' });
  }, 200_000);

  it('crops a picture layer to a rectangle selection, in one undo step', async () => {
    const red = async (p: DocPoint) => {
      const [r, g, b] = await ui.pixel(p);
      return r > 150 && g < 100 && b < 100;
    };
    await ui.press('s');
    await ui.page.getByTestId('mask-feather').fill('0');
    await ui.drag([{ x: 20, y: 100 }, { x: 60, y: 140 }]);
    await ui.layer('halves.png').getByTestId('layer-name').click();
    await ui.page.getByTestId('mask-crop').click();
    await ui.page.getByTestId('mask-overlay').click();
    await expect.poll(() => ui.isWhite({ x: 80, y: 120 })).toBe(true);
    expect(await red({ x: 40, y: 120 })).toBe(true);
    // Undo the overlay toggle, then the crop: one step.
    await ui.undo();
    await ui.undo();
    await expect.poll(() => red({ x: 80, y: 120 })).toBe(true);
  }, 60_000);
});
