// Refreshes the README's screenshots of the main screens (docs/screenshots/*.png): starts
// web mode on a fresh ATELIER_HOME, drives the studio in Chromium like an artist would, and
// captures each screen. Uses the bundled starter model when it is usable, else a tiny fixture
// (whose candidates are noise). Each scenario runs in a studio of its own, so a shot shows
// only what it is about. Run: npm run screenshots (all of them), or name the shots to take:
// npm run screenshots -- live-mode region-mixer
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { startStudio } from '../tests/e2e/harness.js';
import { StudioPage } from '../tests/e2e/pages/studio-page.js';

const out = path.resolve('docs/screenshots');

interface Scene {
  page: Page;
  ui: StudioPage;
  shot: (name: string) => Promise<void>;
  /** Document point at the starter's 256² layout, scaled to the frame the model generates. */
  p: (x: number, y: number) => { x: number; y: number };
  k: number;
}

/** A fresh studio with the model chosen and a new project; `run` drives it, then it stops. */
async function inStudio(run: (scene: Scene) => Promise<void>): Promise<void> {
  const studio = await startStudio();
  const page = studio.page;
  const ui = new StudioPage(page);
  const shot = async (name: string) => {
    // Whatever the last action started (a transition, an image decode) has reached the screen.
    await ui.nextFrames();
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(out, `${name}.png`) });
    console.log(`docs/screenshots/${name}.png`);
  };
  try {
    await ui.ready();
    const picker = page.getByTestId('model-picker');
    await page.waitForTimeout(1500);
    const starterUsable = await picker.locator('option[value="starter"]:not([disabled])').count();
    if (!starterUsable) {
      console.log('The starter model is not usable here: using the sd1-tiny fixture (candidates will be noise).');
      await ui.addModel(path.resolve('tests/fixtures/models/sd1-tiny'));
      await picker.selectOption({ label: 'sd1-tiny' });
      await ui.settings({ width: 256, height: 256 });
    } else {
      await picker.selectOption('starter');
    }
    await ui.settings({ steps: 12, batch: 4 });
    await ui.newProject();
    const size = Number(await page.getByTestId('width').inputValue());
    const k = size / 256;
    await run({ page, ui, shot, k, p: (x, y) => ({ x: x * k, y: y * k }) });
  } finally {
    await studio.stop();
  }
}

const PROMPT = 'a red house beside a lake under a (sunset sky:1.2), a tall tree on the left';

/** A quick layout sketch: horizon, hills, a house with a roof, a tree, the sun. */
async function sketchLandscape({ page, ui, p, k }: Scene): Promise<void> {
  await ui.press('b');
  await page.getByTestId('stroke-width').fill(String(Math.round(3 * k)));
  await ui.drag([p(0, 170), p(60, 150), p(120, 165), p(256, 150)]);
  await ui.drag([p(140, 120), p(200, 120), p(200, 175), p(140, 175), p(140, 120)]);
  await ui.drag([p(132, 124), p(170, 90), p(208, 124)]);
  await ui.drag([p(50, 190), p(50, 120)]);
  await ui.press('o');
  await ui.drag([p(30, 80), p(70, 125)]);
  await ui.drag([p(190, 30), p(225, 65)]);
  await ui.press('b');
}

/** The studio's main screens: generating, the strip, compare, a mask, history. */
async function mainScreens(scene: Scene): Promise<void> {
  const { page, ui, shot, p, k } = scene;
  await sketchLandscape(scene);
  await ui.setPrompt(PROMPT);
  await page.getByTestId('negative-prompt').fill('blurry, [dark]');
  await page.getByTestId('generate').click();
  // A fast run may finish before the progress bar is seen: the shot is taken either way.
  await page.getByTestId('progress').waitFor({ timeout: 120_000 }).catch(() => undefined);
  await shot('generating');
  await ui.candidates().nth(3).waitFor({ timeout: 300_000 });
  await shot('studio');

  await ui.candidates().nth(0).getByTestId('compare').click();
  await ui.candidates().nth(1).getByTestId('compare').click();
  await shot('compare');
  await page.getByRole('button', { name: 'Close compare' }).click();

  await ui.candidates().nth(0).getByTestId('accept').click();
  await ui.press('m');
  await page.getByTestId('stroke-width').fill(String(Math.round(28 * k)));
  await ui.drag([p(150, 60), p(230, 60)]);
  await shot('mask');

  const first = await ui.candidates().nth(0).getAttribute('data-candidate-id');
  await ui.candidates().nth(0).getByTestId('refine').click();
  await page.locator(`[data-testid="candidate"]:not([data-candidate-id="${first}"])`).nth(3).waitFor({ timeout: 300_000 });
  await page.waitForTimeout(1500);
  await page.getByTestId('view-history').click();
  await page.getByTestId('history-cell').nth(1).waitFor();
  await page.getByTestId('history-cell').first().click();
  // Without a tree (no refinements yet) the history shot is still worth taking.
  await page.getByTestId('iteration-tree').waitFor({ timeout: 10_000 }).catch(() => undefined);
  await shot('history');

  await page.getByTestId('view-canvas').click();
  await page.setViewportSize({ width: 1280, height: 800 });
  await shot('studio-1280x800');
}

/** Live mode: the sketch, and beside it the preview the last stroke made. */
async function liveMode(scene: Scene): Promise<void> {
  const { page, ui, shot, p } = scene;
  await ui.setPrompt(PROMPT);
  await sketchLandscape(scene);
  await page.getByTestId('live-toggle').click();
  const image = page.getByTestId('live-image');
  await image.waitFor({ timeout: 120_000 });
  const before = await image.getAttribute('data-job-id');
  // One more stroke (a path to the house): a new preview follows it.
  await ui.drag([p(120, 256), p(150, 200), p(165, 176)]);
  await page.waitForFunction((old) => {
    const img = (globalThis as unknown as { document: { querySelector(s: string): { getAttribute(a: string): string | null } | null } }).document.querySelector('[data-testid="live-image"]');
    return img !== null && img.getAttribute('data-job-id') !== old;
  }, before, { timeout: 120_000 });
  await page.getByTestId('live-status').and(page.locator('[data-updating="false"]')).waitFor({ timeout: 120_000 });
  // Two zoom steps out: the preview panel then sits beside the picture, not over it.
  await ui.press('-');
  await ui.press('-');
  await page.mouse.move(2, 2);
  await shot('live-mode');
}

/** Mix by region: one candidate accepted, then two region boxes each take another's pixels. */
async function regionMixer(scene: Scene): Promise<void> {
  const { page, ui, shot, p } = scene;
  await ui.setPrompt(PROMPT);
  await sketchLandscape(scene);
  await ui.press('g');
  await page.getByTestId('region-label').fill('a red house');
  await ui.drag([p(126, 84), p(214, 182)]);
  await page.getByTestId('region-label').fill('a blue lake');
  await ui.drag([p(4, 196), p(252, 252)]);
  await ui.press('b');
  // Each region costs one more UNet pass per step: fewer steps and candidates keep it short on a CPU.
  await ui.settings({ steps: 8, batch: 3 });
  await page.getByTestId('generate').click();
  await ui.candidates().nth(2).waitFor({ timeout: 500_000 }).catch(async (error: unknown) => {
    throw new Error(`No batch: ${(await page.locator('[data-testid^="toast"]').allTextContents()).join(' | ')}`, { cause: error });
  });
  await ui.candidates().nth(0).getByTestId('accept').click();
  const mixer = page.getByTestId('region-mixer');
  const row = (label: string) => mixer.locator(`[data-testid="mixer-region"][data-label="${label}"]`);
  await row('a red house').getByTestId('mixer-pick').nth(2).click();
  await row('a blue lake').getByTestId('mixer-pick').nth(1).click();
  for (const label of ['a red house', 'a blue lake']) await row(label).locator('[aria-pressed="true"]').waitFor();
  // Fit again: the strip and the mixer took room below the canvas since it was fitted.
  await ui.press('0');
  await page.mouse.move(2, 2);
  await shot('region-mixer');
}

const SCENES: Array<{ shots: string[]; run: (scene: Scene) => Promise<void> }> = [
  { shots: ['generating', 'studio', 'compare', 'mask', 'history', 'studio-1280x800'], run: mainScreens },
  { shots: ['live-mode'], run: liveMode },
  { shots: ['region-mixer'], run: regionMixer },
];

async function main(): Promise<void> {
  fs.mkdirSync(out, { recursive: true });
  const wanted = process.argv.slice(2);
  const known = SCENES.flatMap((s) => s.shots);
  const unknown = wanted.filter((w) => !known.includes(w));
  if (unknown.length > 0) throw new Error(`No such screenshot: ${unknown.join(', ')} (known: ${known.join(', ')})`);
  for (const scene of SCENES) {
    if (wanted.length === 0 || scene.shots.some((s) => wanted.includes(s))) await inStudio(scene.run);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
