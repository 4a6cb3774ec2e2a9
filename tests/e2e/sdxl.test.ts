import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useStudio } from './harness.js';

// SDXL in the studio, on the tiny SDXL fixtures (native size 64×64; real SDXL models 1024²):
// the picker lists it under its family and native size, picking it moves the frame from the
// starter's native size to its own, size presets set the frame, generating makes candidates
// with and without a refiner, and the history shows the refiner. Screenshots go to
// ATELIER_SHOTS (default: a temporary folder) for a person to look at.

const FIXTURES = path.resolve('tests/fixtures/models');
const SHOTS = process.env.ATELIER_SHOTS ?? fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-sdxl-shots-'));

const { ui } = useStudio();

describe('SDXL in the studio', () => {
  it('lists an SDXL model with its native size; picking it sets the frame to that size', async () => {
    const page = ui.page;
    // The starter stays the default: its native 256×256 frame.
    await expect.poll(() => ui.frameSize()).toEqual({ width: 256, height: 256 });
    await ui.addModel(path.join(FIXTURES, 'sdxl-tiny'));
    await ui.addModel(path.join(FIXTURES, 'sdxl-refiner-tiny'));
    expect(await page.getByTestId('model-picker').inputValue()).toBe('starter');
    const group = page.locator('[data-testid="model-picker"] optgroup', { has: page.locator('option', { hasText: 'sdxl-tiny' }) });
    expect(await group.getAttribute('label')).toBe('SDXL · 64×64');
    // No refiner settings for the starter (not SDXL).
    expect(await page.getByTestId('refiner-settings').count()).toBe(0);

    await page.getByTestId('model-picker').selectOption({ label: 'sdxl-tiny' });
    await expect.poll(() => ui.frameSize()).toEqual({ width: 64, height: 64 });
    expect(await page.getByTestId('model-native').textContent()).toMatch(/SDXL · 64×64 native/);
    // A preset sets the frame; "Native" goes back to the preset nearest the frame's aspect.
    await page.getByTestId('size-preset').selectOption({ label: '80×64 · landscape 5:4' }).catch(async () => {
      const labels = await page.locator('[data-testid="size-preset"] option').allTextContents();
      throw new Error(`no 80×64 preset among ${labels.join(' | ')}`);
    });
    await expect.poll(() => ui.frameSize()).toEqual({ width: 80, height: 64 });
    await ui.settings({ width: 64, height: 48 });
    await page.getByTestId('size-native').click();
    await expect.poll(() => ui.frameSize()).toEqual({ width: 80, height: 64 });
    await ui.settings({ width: 64, height: 64 });
    await page.screenshot({ path: path.join(SHOTS, 'sdxl-picked.png') });
  }, 120_000);

  it('generates candidates with the SDXL model', async () => {
    await ui.newProject();
    await ui.settings({ steps: 3, batch: 2 });
    await ui.setPrompt('a castle on the hill');
    await ui.page.getByTestId('generate').click();
    await expect.poll(() => ui.candidates().count(), { timeout: 120_000 }).toBe(2);
    expect(await ui.errorToasts().count()).toBe(0);
  }, 150_000);

  it('generates with a refiner picked in the advanced settings', async () => {
    const page = ui.page;
    const first = await ui.candidates().first().getAttribute('data-candidate-id');
    await page.locator('[data-testid="refiner-settings"] summary').click();
    await page.getByTestId('refiner-picker').selectOption({ label: 'sdxl-refiner-tiny' });
    await page.getByTestId('refiner-switch').fill('0.6');
    await expect.poll(() => page.getByTestId('refiner-settings').textContent()).toMatch(/Switch at 60% of the steps/);
    await page.screenshot({ path: path.join(SHOTS, 'sdxl-refiner.png') });
    await ui.setPrompt('a castle on the hill at dusk');
    await page.getByTestId('generate').click();
    await expect.poll(() => ui.candidates().first().getAttribute('data-candidate-id'), { timeout: 120_000 }).not.toBe(first);
    await expect.poll(() => ui.candidates().count()).toBe(2);
    expect(await ui.errorToasts().count()).toBe(0);
  }, 150_000);

  it('shows the SDXL parameters in the history', async () => {
    const page = ui.page;
    await page.getByTestId('view-history').click();
    await expect.poll(() => page.getByTestId('history-cell').count(), { timeout: 30_000 }).toBe(2);
    // Newest first: the refined run.
    await page.getByTestId('history-cell').first().click();
    const params = page.getByTestId('history-detail').getByTestId('history-params');
    await expect.poll(() => params.textContent()).toMatch(/refinersdxl-refiner-tiny · switch at 0\.6/);
    expect(await params.textContent()).toMatch(/modelsdxl-tiny/);
    expect(await params.textContent()).toMatch(/size64×64/);
    await page.screenshot({ path: path.join(SHOTS, 'sdxl-history.png') });
    // The earlier run had no refiner: recalling it clears the panel's refiner…
    await page.getByTestId('history-cell').last().click();
    await expect.poll(() => params.textContent()).toMatch(/a castle on the hill(?! at dusk)/);
    expect(await params.textContent()).not.toMatch(/refiner/);
    await page.getByTestId('recall').click();
    await expect.poll(() => page.getByTestId('prompt').inputValue()).toBe('a castle on the hill');
    expect(await page.getByTestId('refiner-picker').inputValue()).toBe('');
    // …and recalling the refined run puts the refiner and its switch back.
    await page.getByTestId('view-history').click();
    await page.getByTestId('history-cell').first().click();
    await expect.poll(() => params.textContent()).toMatch(/at dusk/);
    await page.getByTestId('recall').click();
    await expect.poll(() => page.getByTestId('prompt').inputValue()).toBe('a castle on the hill at dusk');
    await expect.poll(() => page.locator('[data-testid="refiner-picker"] option:checked').textContent()).toBe('sdxl-refiner-tiny');
    expect(await page.getByTestId('refiner-switch').inputValue()).toBe('0.6');
  }, 60_000);

  it('sets SDXL micro-conditioning in the advanced settings; the run, its history and recall keep it; another family drops it', async () => {
    const page = ui.page;
    await page.getByTestId('view-canvas').click();
    const section = page.getByTestId('sdxl-conditioning');
    if ((await section.getAttribute('open')) === null) await section.locator('summary').click();
    await page.getByTestId('sdxl-original-width').fill('128');
    await page.getByTestId('sdxl-original-height').fill('96');
    await page.getByTestId('sdxl-crop-top').fill('8');
    // a refiner is picked (the recalled run's): the aesthetic scores are offered
    await page.getByTestId('sdxl-aesthetic').fill('7');
    await expect.poll(() => section.locator('summary').textContent()).toBe('SDXL conditioning (set)');
    await page.screenshot({ path: path.join(SHOTS, 'sdxl-conditioning.png') });
    const first = await ui.candidates().first().getAttribute('data-candidate-id');
    await page.getByTestId('generate').click();
    await expect.poll(() => ui.candidates().first().getAttribute('data-candidate-id'), { timeout: 120_000 }).not.toBe(first);
    expect(await ui.errorToasts().count()).toBe(0);

    await page.getByTestId('view-history').click();
    await page.getByTestId('history-cell').first().click();
    const params = page.getByTestId('history-detail').getByTestId('history-params');
    await expect.poll(() => params.textContent()).toMatch(/original size128×96/);
    expect(await params.textContent()).toMatch(/crop top-left8, 0/);
    expect(await params.textContent()).toMatch(/aesthetic score7/);
    // Reset empties the panel; recalling the run brings the values back
    await page.getByTestId('view-canvas').click();
    await page.getByTestId('sdxl-conditioning-reset').click();
    expect(await page.getByTestId('sdxl-original-width').inputValue()).toBe('');
    await page.getByTestId('view-history').click();
    await page.getByTestId('history-cell').first().click();
    await page.getByTestId('recall').click();
    await expect.poll(() => page.getByTestId('sdxl-original-width').inputValue()).toBe('128');
    expect(await page.getByTestId('sdxl-crop-top').inputValue()).toBe('8');
    // the starter is not SDXL: the section goes, and so do its values
    await page.getByTestId('model-picker').selectOption('starter');
    await expect.poll(() => page.getByTestId('sdxl-conditioning').count()).toBe(0);
    await page.getByTestId('model-picker').selectOption({ label: 'sdxl-tiny' });
    await expect.poll(() => page.getByTestId('sdxl-conditioning').count()).toBe(1);
    expect(await page.getByTestId('sdxl-original-width').inputValue()).toBe('');
  }, 180_000);
});
