import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPngMetadata } from '../../app/formats/png-metadata.js';
import { importModel } from '../../app/service/model-import.js';
import { screenshotsDir, useStudio } from './harness.js';
import type { StudioPage } from './pages/studio-page.js';

// The prompt panel's assets (docs/models.md, "LoRA chips and the VAE picker"): a typed
// <lora:NAME:WEIGHT> shows as a chip whose weight edits the text, unknown names are flagged,
// the Add LoRA picker inserts a tag, embeddings are offered by name while typing, and a VAE is
// chosen from ATELIER_HOME/vae. A generation with both records `Lora hashes` and the VAE in its
// PNG, and recall brings the tag and the VAE back into the panel.

const CKPT = path.resolve('tests/fixtures/checkpoint');
const HINTS = { unet: { heads: 4, normNumGroups: 4, sampleSize: 8 }, vaeNormGroups: 4, clipHeads: 4 };
let modelId = '';

const { ui } = useStudio({
  seedHome: async (home) => {
    const { entry } = await importModel({ home, source: path.join(CKPT, 'sd1-tiny.safetensors'), name: 'Tiny', hints: HINTS, tokenizerDir: path.resolve('tests/fixtures/models/sd1-tiny/tokenizer') });
    modelId = entry.id;
    for (const [dir, from, name] of [
      ['loras', 'lora/lora-kohya.safetensors', 'ink-style.safetensors'],
      ['loras', 'lora/lora-peft.safetensors', 'paper-grain.safetensors'],
      ['embeddings', 'embeddings/tiny-style.safetensors', 'tiny-style.safetensors'],
      ['vae', 'vae-alt.safetensors', 'alt-vae.safetensors'],
    ] as const) {
      fs.mkdirSync(path.join(home, dir), { recursive: true });
      fs.copyFileSync(path.join(CKPT, from), path.join(home, dir, name));
    }
  },
  prepare: async (ui) => {
    await ui.page.getByTestId('model-picker').selectOption(modelId);
    await ui.settings({ width: 64, height: 64, steps: 2, batch: 1, seed: 7 });
    await ui.page.getByTestId('seed-policy').selectOption('fixed');
  },
});

const chips = (ui: StudioPage) => ui.page.getByTestId('lora-chip');
const prompt = (ui: StudioPage) => ui.page.getByTestId('prompt').inputValue();

/** The PNG the history detail shows, as bytes (read through the page, as the artist's browser gets it). */
async function detailPng(ui: StudioPage): Promise<Buffer> {
  const src = await ui.page.getByTestId('history-detail').locator('.detail-candidates img').first().getAttribute('src');
  const bytes = await ui.page.evaluate(async (url) => Array.from(new Uint8Array(await (await fetch(url!)).arrayBuffer())), src);
  return Buffer.from(bytes);
}

describe('LoRA chips, embeddings and the VAE picker', () => {
  it('shows a chip for a typed LoRA; its weight rewrites the tag; unknown names are flagged; Add LoRA inserts one', async () => {
    await ui.setPrompt('a red house <lora:ink-style:0.8> on a hill');
    await expect.poll(() => chips(ui).count()).toBe(1);
    expect(await chips(ui).first().getAttribute('data-name')).toBe('ink-style');
    expect(await chips(ui).first().getByTestId('lora-chip-weight').inputValue()).toBe('0.8');
    await chips(ui).first().getByTestId('lora-chip-weight').fill('0.65');
    await expect.poll(() => prompt(ui)).toBe('a red house <lora:ink-style:0.65> on a hill');
    expect(await ui.page.getByTestId('lora-unknown').count()).toBe(0);

    await ui.setPrompt('a red house <lora:ink-style:0.65> on a hill <lora:nowhere:1>');
    await expect.poll(() => ui.page.getByTestId('lora-unknown').textContent()).toMatch(/LoRA "nowhere" is not in .*loras: generating will fail/);
    expect(await chips(ui).nth(1).getAttribute('class')).toMatch(/unknown/);
    await chips(ui).nth(1).getByTestId('lora-chip-remove').click();
    await expect.poll(() => prompt(ui)).toBe('a red house <lora:ink-style:0.65> on a hill');
    expect(await ui.page.getByTestId('lora-unknown').count()).toBe(0);

    const picker = ui.page.getByTestId('add-lora');
    expect(await picker.locator('option').allTextContents()).toEqual(['Add LoRA…', 'ink-style', 'paper-grain']);
    await picker.selectOption('paper-grain');
    await expect.poll(() => prompt(ui)).toBe('a red house <lora:ink-style:0.65> on a hill, <lora:paper-grain:1>');
    await expect.poll(() => chips(ui).count()).toBe(2);
    await chips(ui).nth(1).getByTestId('lora-chip-remove').click();
    await expect.poll(() => prompt(ui)).toBe('a red house <lora:ink-style:0.65> on a hill');
  });

  it('offers embeddings by name in the autocomplete', async () => {
    const box = ui.page.getByTestId('prompt');
    await box.click();
    await box.press('End');
    await box.pressSequentially(' tiny-s');
    await expect.poll(() => ui.promptSuggestions().locator('li').allTextContents()).toContain('tiny-style');
    await ui.promptSuggestions().locator('li', { hasText: 'tiny-style' }).first().dispatchEvent('mousedown');
    await expect.poll(() => prompt(ui)).toBe('a red house <lora:ink-style:0.65> on a hill tiny-style');
    await ui.setPrompt('a red house <lora:ink-style:0.65> on a hill');
  });

  it('generates with the LoRA and a chosen VAE; history records both and recall restores them', async () => {
    const vae = ui.page.getByTestId('vae-picker');
    expect(await vae.locator('option').allTextContents()).toEqual(['Model default', 'alt-vae']);
    await vae.selectOption('alt-vae');
    await ui.page.screenshot({ path: path.join(screenshotsDir, 'prompt-lora-chips.png'), clip: { x: 1100, y: 40, width: 340, height: 420 } });
    await ui.page.getByTestId('generate').click();
    await ui.candidates().first().waitFor({ timeout: 120_000 });
    expect(await ui.errorToasts().count()).toBe(0);

    // The panel changes before recall, so recall has something to restore.
    await ui.setPrompt('something else');
    await vae.selectOption('');
    await ui.page.getByTestId('view-history').click();
    await expect.poll(() => ui.page.getByTestId('history-cell').count(), { timeout: 30_000 }).toBe(1);
    await ui.page.getByTestId('history-cell').first().click();
    const detail = ui.page.getByTestId('history-detail');
    await expect.poll(() => detail.getByTestId('history-params').textContent()).toMatch(/VAEalt-vae/);
    const parameters = readPngMetadata(await detailPng(ui)).chunks.parameters!;
    expect(parameters).toContain('a red house <lora:ink-style:0.65> on a hill');
    expect(parameters).toMatch(/Lora hashes: "ink-style: [0-9a-f]{10}"/);
    expect(parameters).toMatch(/VAE hash: [0-9a-f]{10}, VAE: alt-vae\.safetensors,/);

    await detail.getByTestId('recall').click();
    await expect.poll(() => prompt(ui)).toBe('a red house <lora:ink-style:0.65> on a hill');
    await expect.poll(() => chips(ui).count()).toBe(1);
    expect(await chips(ui).first().getByTestId('lora-chip-weight').inputValue()).toBe('0.65');
    expect(await vae.inputValue()).toBe('alt-vae');
  }, 180_000);
});
