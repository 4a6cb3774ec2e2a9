import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Studio, startStudio } from './harness.js';
import { StudioPage } from './pages/studio-page.js';

// The canvas as an artist uses it: draw, shapes, layers, undo/redo, zoom, masks.
let studio: Studio;
let ui: StudioPage;
beforeAll(async () => {
  studio = await startStudio();
  ui = new StudioPage(studio.page);
  await ui.ready();
});
afterAll(async () => {
  await studio?.stop();
});

describe('canvas', () => {
  it('draws a brush stroke, and undo/redo take it away and bring it back', async () => {
    await ui.press('b');
    await ui.page.getByTestId('stroke-width').fill('12');
    expect(await ui.isWhite({ x: 100, y: 100 })).toBe(true);
    await ui.drag([{ x: 60, y: 100 }, { x: 140, y: 100 }]);
    await expect.poll(() => ui.isDark({ x: 100, y: 100 })).toBe(true);
    await ui.undo();
    await expect.poll(() => ui.isWhite({ x: 100, y: 100 })).toBe(true);
    await ui.redo();
    await expect.poll(() => ui.isDark({ x: 100, y: 100 })).toBe(true);
  }, 60_000);

  it('draws a pen stroke thin where pressed lightly and wide where pressed hard', async () => {
    await ui.press('b');
    await ui.page.getByTestId('stroke-width').fill('16');
    // Pressure rises from 0.1 (3 px at x 40…100) to 1 (32 px at x 280…340) along y = 30.
    const points = Array.from({ length: 31 }, (_, i) => ({ x: 40 + i * 10, y: 30, pressure: Math.min(1, 0.1 + Math.max(0, i - 6) * 0.05) }));
    await ui.penDrag(points);
    await expect.poll(() => ui.isDark({ x: 310, y: 30 })).toBe(true);
    expect(await ui.isDark({ x: 70, y: 30 })).toBe(true);
    // 10 px off the line: inside the hard end, outside the light one.
    expect(await ui.isDark({ x: 310, y: 40 })).toBe(true);
    expect(await ui.isWhite({ x: 70, y: 40 })).toBe(true);
    await ui.undo();
    await expect.poll(() => ui.isWhite({ x: 310, y: 30 })).toBe(true);
  }, 60_000);

  it('erases with the eraser, in one undoable step', async () => {
    await ui.press('e');
    await ui.page.getByTestId('stroke-width').fill('30');
    await ui.drag([{ x: 100, y: 70 }, { x: 100, y: 130 }]);
    await expect.poll(() => ui.isWhite({ x: 100, y: 100 })).toBe(true);
    expect(await ui.isDark({ x: 65, y: 100 })).toBe(true);
    await ui.undo();
    await expect.poll(() => ui.isDark({ x: 100, y: 100 })).toBe(true);
  });

  it('draws rectangles and ellipses on a shapes layer', async () => {
    await ui.press('r');
    await ui.page.getByTestId('stroke-width').fill('6');
    await ui.drag([{ x: 200, y: 200 }, { x: 300, y: 260 }]);
    await expect.poll(() => ui.isDark({ x: 250, y: 200 })).toBe(true);
    expect(await ui.isWhite({ x: 250, y: 230 })).toBe(true);
    await ui.press('o');
    await ui.drag([{ x: 200, y: 300 }, { x: 300, y: 400 }]);
    await expect.poll(() => ui.isDark({ x: 250, y: 300 })).toBe(true);
    expect(await ui.layerNames()).toContain('Shapes');
  });

  it('manages layers: add, rename, hide, lock, reorder, delete — each undoable', async () => {
    await ui.page.getByTestId('add-sketch-layer').click();
    const names = await ui.layerNames();
    expect(names[0]).toBe('Sketch');
    expect(names.filter((n) => n === 'Sketch')).toHaveLength(2);

    // Rename the new (top) layer.
    const top = ui.layers().first();
    await top.getByRole('button', { name: 'Rename layer' }).click();
    await ui.page.getByTestId('layer-name-input').fill('Trees');
    await ui.page.getByTestId('layer-name-input').press('Enter');
    await expect.poll(() => ui.layerNames().then((n) => n[0])).toBe('Trees');

    // Draw on it, then hide it: its pixels go, the first sketch stays.
    await ui.press('b');
    await ui.page.getByTestId('stroke-width').fill('14');
    await ui.drag([{ x: 380, y: 80 }, { x: 460, y: 80 }]);
    await expect.poll(() => ui.isDark({ x: 420, y: 80 })).toBe(true);
    await ui.layer('Trees').getByTestId('layer-visibility').click();
    await expect.poll(() => ui.isWhite({ x: 420, y: 80 })).toBe(true);
    await ui.undo();
    await expect.poll(() => ui.isDark({ x: 420, y: 80 })).toBe(true);

    // Move it down one, then delete it; undo brings it back.
    await ui.layer('Trees').getByTestId('layer-down').click();
    await expect.poll(() => ui.layerNames().then((n) => n.indexOf('Trees'))).toBe(1);
    await ui.layer('Trees').getByTestId('layer-delete').click();
    await expect.poll(() => ui.layerNames()).not.toContain('Trees');
    await expect.poll(() => ui.isWhite({ x: 420, y: 80 })).toBe(true);
    await ui.undo();
    await expect.poll(() => ui.layerNames()).toContain('Trees');

    // A locked layer refuses paint and says so on the canvas; nothing is drawn anywhere.
    await ui.layer('Trees').click();
    await ui.layer('Trees').getByTestId('layer-lock').click();
    await ui.drag([{ x: 380, y: 140 }, { x: 460, y: 140 }]);
    await expect.poll(() => ui.page.getByTestId('canvas-hint').textContent()).toMatch(/“Trees” is locked/);
    expect(await ui.isWhite({ x: 420, y: 140 })).toBe(true);
    // So does a hidden one.
    await ui.layer('Trees').getByTestId('layer-lock').click();
    await ui.layer('Trees').getByTestId('layer-visibility').click();
    await ui.drag([{ x: 380, y: 160 }, { x: 460, y: 160 }]);
    await expect.poll(() => ui.page.getByTestId('canvas-hint').textContent()).toMatch(/“Trees” is hidden/);
    expect(await ui.isWhite({ x: 420, y: 160 })).toBe(true);
    await ui.layer('Trees').getByTestId('layer-visibility').click();
  }, 90_000);

  it('changes layer opacity', async () => {
    await ui.layer('Shapes').click();
    await ui.page.getByTestId('layer-opacity').fill('0.3');
    await expect
      .poll(async () => {
        const [r] = await ui.pixel({ x: 250, y: 200 });
        return r;
      })
      .toBeGreaterThan(120);
  });

  it('zooms with keys, the wheel and fit', async () => {
    const start = await ui.scale();
    await ui.press('+');
    await expect.poll(() => ui.scale()).toBeCloseTo(start * Math.SQRT2, 3);
    await ui.press('-');
    await expect.poll(() => ui.scale()).toBeCloseTo(start, 3);
    const box = (await ui.canvas.boundingBox())!;
    await ui.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await ui.page.mouse.wheel(0, -200);
    await expect.poll(() => ui.scale()).toBeGreaterThan(start * 1.2);
    await ui.page.getByTestId('zoom-fit').click();
    await expect.poll(() => ui.scale()).toBeCloseTo(start, 3);
  });

  it('pans with Space-drag without drawing', async () => {
    const before = await ui.toScreen({ x: 0, y: 0 });
    const box = (await ui.canvas.boundingBox())!;
    await ui.canvas.focus();
    await ui.page.keyboard.down('Space');
    await ui.page.mouse.move(box.x + 100, box.y + 100);
    await ui.page.mouse.down();
    await ui.page.mouse.move(box.x + 160, box.y + 130, { steps: 5 });
    await ui.page.mouse.up();
    await ui.page.keyboard.up('Space');
    const after = await ui.toScreen({ x: 0, y: 0 });
    expect(after.x - before.x).toBeCloseTo(60, 0);
    expect(after.y - before.y).toBeCloseTo(30, 0);
    await ui.page.getByTestId('zoom-fit').click();
  });

  it('paints a feathered mask shown as an overlay, inverts and clears it', async () => {
    await ui.press('m');
    await ui.page.getByTestId('stroke-width').fill('40');
    await ui.drag([{ x: 60, y: 460 }, { x: 160, y: 460 }]);
    await expect.poll(() => ui.isMasked({ x: 110, y: 460 })).toBe(true);
    expect(await ui.isMasked({ x: 400, y: 400 })).toBe(false);
    expect(await ui.layerNames()).toContain('Mask');
    await ui.page.getByTestId('mask-invert').click();
    await expect.poll(() => ui.isMasked({ x: 400, y: 400 })).toBe(true);
    expect(await ui.isMasked({ x: 110, y: 460 })).toBe(false);
    await ui.undo();
    await expect.poll(() => ui.isMasked({ x: 110, y: 460 })).toBe(true);
    await ui.page.getByTestId('mask-clear').click();
    await expect.poll(() => ui.isMasked({ x: 110, y: 460 })).toBe(false);
  });

  it('makes a mask from a labelled region box', async () => {
    await ui.press('g');
    await ui.page.getByTestId('region-label').fill('red barn');
    await ui.drag([{ x: 320, y: 320 }, { x: 420, y: 420 }]);
    await ui.page.getByTestId('mask-from-regions').click();
    await expect.poll(() => ui.isMasked({ x: 370, y: 370 })).toBe(true);
    expect(await ui.isMasked({ x: 250, y: 470 })).toBe(false);
  });
});
