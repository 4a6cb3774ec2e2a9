// Refreshes the README's screenshots of the main screens (docs/screenshots/*.png): starts
// web mode on a fresh ATELIER_HOME, drives the studio in Chromium like an artist would, and
// captures each screen. Uses the bundled starter model when it is usable, else a tiny fixture
// (whose candidates are noise). Run: npm run screenshots
import fs from 'node:fs';
import path from 'node:path';
import { startStudio } from '../tests/e2e/harness.js';
import { StudioPage } from '../tests/e2e/pages/studio-page.js';

const out = path.resolve('docs/screenshots');

async function main(): Promise<void> {
  fs.mkdirSync(out, { recursive: true });
  const studio = await startStudio();
  const ui = new StudioPage(studio.page);
  const shot = async (name: string) => {
    await studio.page.waitForTimeout(300);
    await studio.page.screenshot({ path: path.join(out, `${name}.png`) });
    console.log(`docs/screenshots/${name}.png`);
  };
  try {
    await ui.ready();
    const picker = studio.page.getByTestId('model-picker');
    await studio.page.waitForTimeout(1500);
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

    // A quick layout sketch: horizon, hills, a house with a roof, a tree, the sun.
    const size = Number(await studio.page.getByTestId('width').inputValue());
    const k = size / 256;
    const p = (x: number, y: number) => ({ x: x * k, y: y * k });
    await ui.press('b');
    await studio.page.getByTestId('stroke-width').fill(String(Math.round(3 * k)));
    await ui.drag([p(0, 170), p(60, 150), p(120, 165), p(256, 150)]);
    await ui.drag([p(140, 120), p(200, 120), p(200, 175), p(140, 175), p(140, 120)]);
    await ui.drag([p(132, 124), p(170, 90), p(208, 124)]);
    await ui.drag([p(50, 190), p(50, 120)]);
    await ui.press('o');
    await ui.drag([p(30, 80), p(70, 125)]);
    await ui.drag([p(190, 30), p(225, 65)]);
    await ui.press('b');
    await ui.setPrompt('a red house beside a lake under a (sunset sky:1.2), a tall tree on the left');
    await studio.page.getByTestId('negative-prompt').fill('blurry, [dark]');
    await studio.page.getByTestId('generate').click();
    // A fast run may finish before the progress bar is seen: the shot is taken either way.
    await studio.page.getByTestId('progress').waitFor({ timeout: 120_000 }).catch(() => undefined);
    await shot('generating');
    await ui.candidates().nth(3).waitFor({ timeout: 300_000 });
    await shot('studio');

    await ui.candidates().nth(0).getByTestId('compare').click();
    await ui.candidates().nth(1).getByTestId('compare').click();
    await shot('compare');
    await studio.page.getByRole('button', { name: 'Close compare' }).click();

    await ui.candidates().nth(0).getByTestId('accept').click();
    await ui.press('m');
    await studio.page.getByTestId('stroke-width').fill(String(Math.round(28 * k)));
    await ui.drag([p(150, 60), p(230, 60)]);
    await shot('mask');

    const first = await ui.candidates().nth(0).getAttribute('data-candidate-id');
    await ui.candidates().nth(0).getByTestId('refine').click();
    await studio.page.locator(`[data-testid="candidate"]:not([data-candidate-id="${first}"])`).nth(3).waitFor({ timeout: 300_000 });
    await studio.page.waitForTimeout(1500);
    await studio.page.getByTestId('view-history').click();
    await studio.page.getByTestId('history-cell').nth(1).waitFor();
    await studio.page.getByTestId('history-cell').first().click();
    // Without a tree (no refinements yet) the history shot is still worth taking.
    await studio.page.getByTestId('iteration-tree').waitFor({ timeout: 10_000 }).catch(() => undefined);
    await shot('history');

    await studio.page.getByTestId('view-canvas').click();
    await studio.page.setViewportSize({ width: 1280, height: 800 });
    await shot('studio-1280x800');
  } finally {
    await studio.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
