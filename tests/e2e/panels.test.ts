import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { readProjectFile } from '../../app/projects/atelier-file.js';
import { describe, expect, it } from 'vitest';
import { until } from '../helpers/until.js';
import { startStudio, useStudio } from './harness.js';
import { StudioPage, attributes } from './pages/studio-page.js';

// Prompt panel, queue and progress, cancel, variations, reference images and Canny control,
// and the recovery prompt after a crash.
const MODEL = path.resolve('tests/fixtures/models/sd1-tiny');

const { studio, ui } = useStudio({
  prepare: async (ui) => {
    await ui.addModel(MODEL);
    await ui.page.getByTestId('model-picker').selectOption({ label: 'sd1-tiny' });
    await ui.settings({ width: 64, height: 64, steps: 2, batch: 2 });
    await ui.newProject();
  },
});

/**
 * Zooms out with '-' until the view's scale is at most `most`, waiting after each press for
 * the new scale on screen: pressing again on a stale scale overshoots, and a drag planned on a
 * stale transform lands in the wrong place.
 */
async function zoomOutTo(page: StudioPage, most: number): Promise<void> {
  for (let scale = await page.scale(); scale > most; ) {
    const before = scale;
    await page.press('-');
    scale = await until(async () => {
      const now = await page.scale();
      return now < before ? now : undefined;
    }, 'the view to zoom out');
  }
}

/** A PNG with a white square on black, as base64. */
function squarePng(size: number): string {
  const png = new PNG({ width: size, height: size });
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = x > size / 4 && x < (3 * size) / 4 && y > size / 4 && y < (3 * size) / 4 ? 255 : 0;
      png.data.set([v, v, v, 255], (y * size + x) * 4);
    }
  }
  return PNG.sync.write(png).toString('base64');
}

describe('prompt panel', () => {
  it('highlights emphasis syntax and flags an unmatched bracket', async () => {
    await ui.setPrompt('a (red:1.4) barn, [fog], (oops');
    const mirror = ui.page.locator('.prompt-mirror').first();
    expect(await mirror.locator('.em-text[data-weight="1.40"]').first().textContent()).toBe('red');
    expect(await mirror.locator('.em-text[data-weight="0.91"]').first().textContent()).toBe('fog');
    expect(await mirror.locator('.em-unmatched').textContent()).toBe('(');
  });

  it('increment starts at the seed field and moves it past the batch', async () => {
    await ui.setPrompt('a red barn, sunset sky');
    await ui.page.getByTestId('seed-policy').selectOption('increment');
    await ui.page.getByTestId('seed').fill('100');
    // Ctrl+Enter from the prompt box queues exactly one generation.
    await ui.page.getByTestId('prompt').press('Control+Enter');
    await expect.poll(() => ui.candidates().first().getAttribute('data-seed'), { timeout: 60_000 }).toBe('100');
    expect(await ui.page.getByTestId('seed').inputValue()).toBe('102');
    await expect.poll(() => ui.page.getByTestId('queue').count()).toBe(0);
    const res = await studio.context.request.post(`${studio.origin}/api/call`, { data: { v: 1, method: 'library.search', params: {} } });
    expect(((await res.json()) as { result: { total: number } }).result.total).toBe(1);
    await ui.page.getByTestId('seed-policy').selectOption('fixed');
  }, 90_000);

  it('autocompletes phrases from earlier prompts', async () => {
    const box = ui.page.getByTestId('prompt');
    await box.fill('');
    await box.pressSequentially('a house, suns');
    const list = ui.page.getByTestId('prompt-suggestions');
    await expect.poll(() => list.textContent()).toContain('sunset sky');
    await box.press('Tab');
    expect(await box.inputValue()).toBe('a house, sunset sky');
  });

  it('autocompletes from the library: a fresh window that never typed the prompt suggests its phrases', async () => {
    // 'a red barn, sunset sky' was generated above, so the library has it; this browser
    // profile's local prompt list is empty.
    const fresh = await ui.freshWindow(studio.url);
    try {
      expect(await fresh.page.evaluate('localStorage.getItem("atelier.prompts")')).toBeNull();
      const box = fresh.page.getByTestId('prompt');
      await box.pressSequentially('a castle, suns');
      await expect.poll(() => fresh.promptSuggestions().textContent()).toContain('sunset sky');
      await box.press('Tab');
      expect(await box.inputValue()).toBe('a castle, sunset sky');
      // A word no recorded prompt has: no list, once the library has answered for that word
      // and the page has drawn since (before that, "no list" would prove nothing).
      const answered = fresh.page.waitForResponse((r) => {
        const body = r.request().postDataJSON() as { method?: string; params?: { prefix?: string } } | null;
        return body?.method === 'library.promptPhrases' && body.params?.prefix === 'zebr';
      });
      await box.pressSequentially(', zebr');
      await answered;
      await fresh.nextFrames();
      expect(await box.inputValue()).toBe('a castle, sunset sky, zebr');
      expect(await fresh.promptSuggestions().count()).toBe(0);
    } finally {
      await fresh.page.context().close();
    }
  });

  it('saves and applies a named preset', async () => {
    await ui.page.getByText('Presets').click();
    await ui.settings({ steps: 7, cfg: 3.5 });
    await ui.page.getByTestId('preset-name').fill('quick');
    await ui.page.getByTestId('save-preset').click();
    await ui.settings({ steps: 2, cfg: 7 });
    await ui.page.getByRole('button', { name: 'quick', exact: true }).click();
    expect(await ui.page.getByTestId('steps').inputValue()).toBe('7');
    expect(await ui.page.getByTestId('cfg').inputValue()).toBe('3.5');
    await ui.settings({ steps: 2, cfg: 7 });
  });
});

describe('generation queue', () => {
  it('shows progress with steps and a queue, and Esc cancels the running job', async () => {
    await ui.settings({ steps: 200, batch: 4 });
    await ui.page.getByTestId('generate').click();
    await ui.page.getByTestId('generate').click();
    await expect.poll(() => ui.page.getByTestId('progress-text').textContent(), { timeout: 60_000 }).toMatch(/^Step \d+\/200 · .* left/);
    // The second job is listed once the studio has answered for it: a round trip that can end
    // after the first job's progress arrives on a loaded machine.
    await expect.poll(() => ui.page.getByTestId('pending-job').count(), { timeout: 30_000 }).toBe(1);
    await ui.press('Escape');
    await expect.poll(() => ui.page.getByTestId('toast-info').filter({ hasText: 'cancelled' }).count(), { timeout: 60_000 }).toBeGreaterThan(0);
    // The queued one starts; cancel it from the progress bar.
    await expect.poll(() => ui.page.getByTestId('pending-job').count(), { timeout: 60_000 }).toBe(0);
    await ui.page.getByTestId('cancel-job').click();
    await expect.poll(() => ui.page.getByTestId('queue').count(), { timeout: 60_000 }).toBe(0);
    await ui.settings({ steps: 2, batch: 2 });
  }, 150_000);

  it('variations keep the candidate\'s seed and blend its noise toward new variation seeds', async () => {
    const before = await attributes(ui.candidates(), 'data-candidate-id');
    await ui.candidates().first().getByTestId('variations').click();
    await expect.poll(() => ui.candidates().first().getAttribute('data-candidate-id'), { timeout: 60_000 }).not.toBe(before[0]);
    // The parent is seed 100 (from 'increment' above): every variation keeps it (A1111's
    // variation seeds), linked to its parent at the default strength.
    expect((await attributes(ui.candidates(), 'data-seed')).map(Number)).toEqual([100, 100]);
    const id = await ui.page.locator('ul.strip').getAttribute('data-generation-id');
    const res = await studio.context.request.post(`${studio.origin}/api/call`, { data: { v: 1, method: 'library.get', params: { id } } });
    const record = ((await res.json()) as { result: { parentCandidateId?: string; request?: { variation?: { seed: number; strength: number } } } }).result;
    expect(record.parentCandidateId).toBe(before[0]);
    expect(record.request?.variation).toEqual({ seed: expect.any(Number) as number, strength: 0.5 });
  }, 90_000);
});

describe('generation frame', () => {
  it('resizes by its handles to the model\'s size multiple, in step with the Width/Height fields, and undo restores it', async () => {
    // sd1-tiny: VAE ×8 and two UNet blocks, so sizes are multiples of 16.
    expect(await ui.page.getByTestId('width').getAttribute('step')).toBe('16');
    expect(await ui.frameSize()).toEqual({ width: 64, height: 64 });
    // Fit fills the view, so the 64 px canvas shows many times enlarged: zoom out until the
    // frame's handles can be dragged past the canvas, as far as 200 px, and stay on screen.
    await zoomOutTo(ui, 1);
    await ui.dragFrameHandle('corner', { x: 197, y: 150 });
    await expect.poll(() => ui.frameSize()).toEqual({ width: 192, height: 144 });
    await ui.dragFrameHandle('right', { x: 101, y: 70 });
    await expect.poll(() => ui.frameSize()).toEqual({ width: 96, height: 144 });
    // Never below one multiple / GenerationRequest's 64.
    await ui.dragFrameHandle('bottom', { x: 50, y: 3 });
    await expect.poll(() => ui.frameSize()).toEqual({ width: 96, height: 64 });
    // Each drag is one undo step.
    await ui.undo();
    await expect.poll(() => ui.frameSize()).toEqual({ width: 96, height: 144 });
    await ui.undo();
    await expect.poll(() => ui.frameSize()).toEqual({ width: 192, height: 144 });
    await ui.redo();
    await expect.poll(() => ui.frameSize()).toEqual({ width: 96, height: 144 });
    // The fields drive the frame too: its handle is where the new width puts it.
    await ui.settings({ width: 128 });
    await ui.dragFrameHandle('corner', { x: 130, y: 100 });
    await expect.poll(() => ui.frameSize()).toEqual({ width: 128, height: 96 });
    await ui.settings({ width: 64, height: 64 });
    await ui.press('b');
  }, 60_000);
});

describe('reference images and control layers', () => {
  it('drops an image as a reference layer and turns it into a Canny control with a preview', async () => {
    const b64 = squarePng(64);
    await ui.page.evaluate(`(async () => {
      const bytes = Uint8Array.from(atob('${b64}'), (c) => c.charCodeAt(0));
      const file = new File([bytes], 'square.png', { type: 'image/png' });
      const data = new DataTransfer();
      data.items.add(file);
      window.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    })()`);
    await expect.poll(() => ui.layerNames()).toContain('square.png');
    await expect.poll(() => ui.isWhite({ x: 32, y: 32 })).toBe(true);
    expect(await ui.isDark({ x: 4, y: 4 })).toBe(true);
    await ui.page.getByTestId('canny-low').fill('50');
    await expect.poll(() => ui.page.getByTestId('canny-preview').count()).toBe(1);
    await ui.page.getByTestId('canny-from-layer').click();
    await expect.poll(() => ui.layerNames()).toContain('Canny control');
    const controls = ui.page.getByTestId('control-layer');
    expect(await controls.count()).toBe(2);
    // The thresholds set before pressing are the layer's own, kept in the document.
    expect(await controls.last().textContent()).toMatch(/Canny low 50.*Canny high 200/);
    await controls.last().getByTestId('control-weight').fill('0.5');
    expect(await controls.last().textContent()).toMatch(/Weight 0\.50/);
    await ui.undo();
    await expect.poll(() => controls.last().textContent()).toMatch(/Weight 1\.00/);
  });
});

describe('after a crash', () => {
  it('offers to recover the autosaved project on the next start', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-e2e-crash-'));
    try {
      const first = await startStudio({ ATELIER_HOME: home, ATELIER_AUTOSAVE_SECONDS: '1' });
      const page = new StudioPage(first.page);
      await page.ready();
      await page.press('b');
      await page.page.getByTestId('stroke-width').fill('20');
      await page.drag([{ x: 100, y: 100 }, { x: 300, y: 100 }]);
      // Autosave runs every second; wait until the recovery copy on disk holds the stroke.
      const recoveryDir = path.join(home, 'recovery');
      const strokesSaved = async () => {
        if (!fs.existsSync(recoveryDir)) return 0;
        let most = 0;
        for (const f of fs.readdirSync(recoveryDir).filter((n) => n.endsWith('.atelier'))) {
          const saved = await readProjectFile(path.join(recoveryDir, f)).catch(() => null); // mid-write: counted on the next poll
          for (const l of saved?.document.layers ?? []) if (l.kind === 'sketch') most = Math.max(most, l.strokes.length);
        }
        return most;
      };
      await expect.poll(strokesSaved, { timeout: 20_000 }).toBe(1);
      await expect.poll(() => page.page.getByTestId('autosave').getAttribute('data-state')).toBe('current');
      await first.crash();

      const second = await startStudio({ ATELIER_HOME: home });
      try {
        const again = new StudioPage(second.page);
        await again.page.getByTestId('recovery-prompt').waitFor({ timeout: 30_000 });
        await again.page.getByTestId('recover').first().click();
        await again.ready();
        await expect.poll(() => again.isDark({ x: 200, y: 100 })).toBe(true);
      } finally {
        await second.stop();
      }
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  }, 120_000);
});
