// The README's screenshots of the canvas driving generation (docs/canvas.md): paint-over →
// refine, outpainting (extend), and regional prompts. Starts web mode on a fresh ATELIER_HOME
// with the bundled starter model on the CPU and drives the studio as an artist would.
// Run: npm run build:ui && node --import tsx scripts/screenshots-canvas.ts
import fs from 'node:fs';
import path from 'node:path';
import { startStudio } from '../tests/e2e/harness.js';
import { StudioPage } from '../tests/e2e/pages/studio-page.js';

const out = path.resolve('docs/screenshots');
const WAIT = 240_000;

async function main(): Promise<void> {
  fs.mkdirSync(out, { recursive: true });
  const studio = await startStudio();
  const ui = new StudioPage(studio.page);
  const page = studio.page;
  const shot = async (name: string) => {
    await ui.nextFrames();
    await page.screenshot({ path: path.join(out, `${name}.png`) });
    console.log(`docs/screenshots/${name}.png`);
  };
  /** Waits for a strip of `count` candidates none of which is in `before`; returns their ids. */
  const nextCandidates = async (before: string[], count: number): Promise<string[]> => {
    const fresh = before.map((id) => `:not([data-candidate-id="${id}"])`).join('');
    await page.locator(`[data-testid="candidate"]${fresh}`).nth(count - 1).waitFor({ timeout: WAIT });
    return ui.candidates().evaluateAll((els) => els.map((e) => (e as unknown as { getAttribute(a: string): string | null }).getAttribute('data-candidate-id') ?? ''));
  };
  try {
    await ui.ready();
    await page.locator('[data-testid="model-picker"] option[value="starter"]:not([disabled])').waitFor({ state: 'attached', timeout: 30_000 });
    await page.getByTestId('model-picker').selectOption('starter');
    await ui.settings({ steps: 16, batch: 2, seed: 1234 });
    await page.getByTestId('seed-policy').selectOption('fixed');

    // 1. Paint-over → refine: a candidate accepted, a yellow sun painted over it, refined.
    await ui.setPrompt('a red house beside a lake under a blue sky');
    await page.getByTestId('generate').click();
    const first = await nextCandidates([], 2);
    await ui.candidates().first().getByTestId('accept').click();
    await ui.press('b');
    await page.getByTestId('colour').fill('#ffd800');
    await page.getByTestId('stroke-width').fill('36');
    await ui.drag([{ x: 190, y: 50 }, { x: 215, y: 45 }, { x: 205, y: 70 }, { x: 190, y: 55 }], { steps: 10 });
    await ui.candidates().first().getByTestId('refine').click();
    await nextCandidates(first, 2);
    await ui.press('0');
    await shot('canvas-paint-over-refine');

    // 2. Outpainting: the frame pushed 128 px past the right edge, generated, accepted.
    await ui.candidates().first().getByTestId('accept').click();
    await ui.press('v');
    await ui.drag([{ x: 100, y: 100 }, { x: 164, y: 100 }, { x: 228, y: 100 }], { steps: 8 });
    await page.locator('[data-testid="mode-control"][data-mode="extend"]').waitFor();
    const before = await ui.candidates().evaluateAll((els) => els.map((e) => (e as unknown as { getAttribute(a: string): string | null }).getAttribute('data-candidate-id') ?? ''));
    await page.getByTestId('generate').click();
    await nextCandidates(before, 2);
    await ui.candidates().first().getByTestId('accept').click();
    await ui.press('0');
    await shot('canvas-outpaint');

    // 3. Regional prompts: two labelled boxes, red on the left, blue on the right.
    page.once('dialog', (d) => void d.accept());
    await ui.newProject();
    await ui.settings({ batch: 1, seed: 2, steps: 20 });
    await ui.setPrompt('two houses on a hill');
    await ui.press('g');
    await page.getByTestId('colour').fill('#ffffff');
    await page.getByTestId('stroke-width').fill('2');
    for (const [label, x] of [['a red house', 0], ['a blue house', 128]] as const) {
      await ui.press('g');
      await page.getByTestId('region-label').fill(label);
      await ui.drag([{ x, y: 112 }, { x: x + 127, y: 224 }]);
    }
    const controls = page.locator('[data-testid="layer"][data-kind="control"]');
    for (let i = 0; i < (await controls.count()); i++) await controls.nth(i).getByTestId('layer-visibility').click();
    await page.getByTestId('generate').click();
    const ids = await nextCandidates([], 1);
    await page.locator(`[data-testid="candidate"][data-candidate-id="${ids[0]}"]`).getByTestId('accept').click();
    // The boxes drawn over the result they made, and the Regions panel in view.
    await page.locator('[data-testid="layer"][data-kind="shapes"]').getByTestId('layer-up').click();
    await ui.press('0');
    await page.getByTestId('regions-panel').scrollIntoViewIfNeeded();
    await shot('canvas-regions');
  } finally {
    await studio.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
