import { PNG } from 'pngjs';
import type { Request } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { useStudio } from './harness.js';

// The canvas as an artist uses it: draw, shapes, layers, undo/redo, zoom, masks.
const { ui } = useStudio();

describe('canvas', () => {
  it('opens at the starter model’s native size with the frame on it, fitted to fill the view', async () => {
    expect(await ui.canvas.getAttribute('data-canvas')).toBe('256x256');
    expect(await ui.canvas.getAttribute('data-frame')).toBe('0,0,256,256');
    expect(await ui.frameSize()).toEqual({ width: 256, height: 256 });
    // Fit fills the view (24 px margins), well above 100 % for a 256 px canvas.
    const box = (await ui.canvas.boundingBox())!;
    const scale = await ui.scale();
    expect(scale).toBeGreaterThan(1.5);
    expect(scale).toBeCloseTo(Math.min((box.width - 48) / 256, (box.height - 48) / 256), 3);
  });

  it('keeps the top bar one height and the canvas still during a stroke', async () => {
    const bar = ui.page.locator('header.topbar');
    const barHeight = (await bar.boundingBox())!.height;
    const canvasTop = (await ui.canvas.boundingBox())!.y;
    await ui.press('b');
    const from = await ui.toScreen({ x: 200, y: 230 });
    await ui.page.mouse.move(from.x, from.y);
    await ui.page.mouse.down();
    await ui.page.mouse.move(from.x + 40, from.y, { steps: 4 });
    expect((await ui.canvas.boundingBox())!.y).toBe(canvasTop);
    await ui.page.mouse.up();
    // The save status now says there are unsaved changes: the bar and the canvas stay put.
    await expect.poll(() => ui.page.getByTestId('project-name').getAttribute('data-dirty')).toBe('true');
    expect((await bar.boundingBox())!.height).toBe(barHeight);
    expect((await ui.canvas.boundingBox())!.y).toBe(canvasTop);
    await ui.undo();
    await expect.poll(() => ui.isWhite({ x: 220, y: 230 })).toBe(true);
  });

  it('draws a brush stroke, and undo/redo take it away and bring it back', async () => {
    await ui.press('b');
    await ui.page.getByTestId('stroke-width').fill('12');
    expect(await ui.isWhite({ x: 50, y: 50 })).toBe(true);
    await ui.drag([{ x: 30, y: 50 }, { x: 70, y: 50 }]);
    await expect.poll(() => ui.isDark({ x: 50, y: 50 })).toBe(true);
    await ui.undo();
    await expect.poll(() => ui.isWhite({ x: 50, y: 50 })).toBe(true);
    await ui.redo();
    await expect.poll(() => ui.isDark({ x: 50, y: 50 })).toBe(true);
  }, 60_000);

  it('draws a pen stroke thin where pressed lightly and wide where pressed hard', async () => {
    await ui.press('b');
    await ui.page.getByTestId('stroke-width').fill('16');
    // Pressure rises from 0.1 (3 px at x 20…50) to 1 (32 px at x 140…170) along y = 15.
    const points = Array.from({ length: 31 }, (_, i) => ({ x: 20 + i * 5, y: 15, pressure: Math.min(1, 0.1 + Math.max(0, i - 6) * 0.05) }));
    await ui.penDrag(points);
    await expect.poll(() => ui.isDark({ x: 155, y: 15 })).toBe(true);
    expect(await ui.isDark({ x: 35, y: 15 })).toBe(true);
    // 10 px off the line: inside the hard end, outside the light one.
    expect(await ui.isDark({ x: 155, y: 25 })).toBe(true);
    expect(await ui.isWhite({ x: 35, y: 25 })).toBe(true);
    await ui.undo();
    await expect.poll(() => ui.isWhite({ x: 155, y: 15 })).toBe(true);
  }, 60_000);

  it('erases with the eraser, in one undoable step', async () => {
    await ui.press('e');
    await ui.page.getByTestId('stroke-width').fill('30');
    await ui.drag([{ x: 50, y: 35 }, { x: 50, y: 65 }]);
    await expect.poll(() => ui.isWhite({ x: 50, y: 50 })).toBe(true);
    expect(await ui.isDark({ x: 32.5, y: 50 })).toBe(true);
    await ui.undo();
    await expect.poll(() => ui.isDark({ x: 50, y: 50 })).toBe(true);
  });

  it('draws rectangles and ellipses on a shapes layer', async () => {
    await ui.press('r');
    await ui.page.getByTestId('stroke-width').fill('6');
    await ui.drag([{ x: 100, y: 100 }, { x: 150, y: 130 }]);
    await expect.poll(() => ui.isDark({ x: 125, y: 100 })).toBe(true);
    expect(await ui.isWhite({ x: 125, y: 115 })).toBe(true);
    await ui.press('o');
    await ui.drag([{ x: 100, y: 150 }, { x: 150, y: 200 }]);
    await expect.poll(() => ui.isDark({ x: 125, y: 150 })).toBe(true);
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
    await ui.drag([{ x: 190, y: 40 }, { x: 230, y: 40 }]);
    await expect.poll(() => ui.isDark({ x: 210, y: 40 })).toBe(true);
    await ui.layer('Trees').getByTestId('layer-visibility').click();
    await expect.poll(() => ui.isWhite({ x: 210, y: 40 })).toBe(true);
    await ui.undo();
    await expect.poll(() => ui.isDark({ x: 210, y: 40 })).toBe(true);

    // Move it down one, then delete it; undo brings it back.
    await ui.layer('Trees').getByTestId('layer-down').click();
    await expect.poll(() => ui.layerNames().then((n) => n.indexOf('Trees'))).toBe(1);
    await ui.layer('Trees').getByTestId('layer-delete').click();
    await expect.poll(() => ui.layerNames()).not.toContain('Trees');
    await expect.poll(() => ui.isWhite({ x: 210, y: 40 })).toBe(true);
    await ui.undo();
    await expect.poll(() => ui.layerNames()).toContain('Trees');

    // A locked layer refuses paint and says so on the canvas; nothing is drawn anywhere.
    await ui.layer('Trees').click();
    await ui.layer('Trees').getByTestId('layer-lock').click();
    await ui.drag([{ x: 190, y: 70 }, { x: 230, y: 70 }]);
    await expect.poll(() => ui.page.getByTestId('canvas-hint').textContent()).toMatch(/“Trees” is locked/);
    expect(await ui.isWhite({ x: 210, y: 70 })).toBe(true);
    // So does a hidden one.
    await ui.layer('Trees').getByTestId('layer-lock').click();
    await ui.layer('Trees').getByTestId('layer-visibility').click();
    await ui.drag([{ x: 190, y: 80 }, { x: 230, y: 80 }]);
    await expect.poll(() => ui.page.getByTestId('canvas-hint').textContent()).toMatch(/“Trees” is hidden/);
    expect(await ui.isWhite({ x: 210, y: 80 })).toBe(true);
    await ui.layer('Trees').getByTestId('layer-visibility').click();
  }, 90_000);

  it('changes layer opacity', async () => {
    await ui.layer('Shapes').click();
    await ui.page.getByTestId('layer-opacity').fill('0.3');
    await expect
      .poll(async () => {
        const [r] = await ui.pixel({ x: 125, y: 100 });
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
    await ui.drag([{ x: 30, y: 230 }, { x: 80, y: 230 }]);
    await expect.poll(() => ui.isMasked({ x: 55, y: 230 })).toBe(true);
    expect(await ui.isMasked({ x: 200, y: 200 })).toBe(false);
    expect(await ui.layerNames()).toContain('Mask');
    await ui.page.getByTestId('mask-invert').click();
    await expect.poll(() => ui.isMasked({ x: 200, y: 200 })).toBe(true);
    expect(await ui.isMasked({ x: 55, y: 230 })).toBe(false);
    await ui.undo();
    await expect.poll(() => ui.isMasked({ x: 55, y: 230 })).toBe(true);
    await ui.page.getByTestId('mask-clear').click();
    await expect.poll(() => ui.isMasked({ x: 55, y: 230 })).toBe(false);
  });

  it('makes a mask from a labelled region box', async () => {
    await ui.press('g');
    await ui.page.getByTestId('region-label').fill('red barn');
    await ui.drag([{ x: 160, y: 160 }, { x: 210, y: 210 }]);
    await ui.page.getByTestId('mask-from-regions').click();
    await expect.poll(() => ui.isMasked({ x: 185, y: 185 })).toBe(true);
    expect(await ui.isMasked({ x: 125, y: 235 })).toBe(false);
  });

  it('turns rectangle, ellipse and lasso selections into mask areas, each one undo step', async () => {
    await ui.press('s');
    await ui.drag([{ x: 20, y: 100 }, { x: 60, y: 140 }]);
    await expect.poll(() => ui.isMasked({ x: 40, y: 120 })).toBe(true);
    expect(await ui.isMasked({ x: 80, y: 120 })).toBe(false);
    await ui.page.keyboard.press('Shift+S');
    await ui.drag([{ x: 100, y: 200 }, { x: 140, y: 240 }]);
    await expect.poll(() => ui.isMasked({ x: 120, y: 220 })).toBe(true);
    // The circle's corner stays unmasked.
    expect(await ui.isMasked({ x: 102, y: 202 })).toBe(false);
    await ui.press('a');
    await ui.drag([{ x: 215, y: 100 }, { x: 255, y: 100 }, { x: 235, y: 150 }, { x: 216, y: 101 }]);
    await expect.poll(() => ui.isMasked({ x: 235, y: 115 })).toBe(true);
    expect(await ui.isMasked({ x: 218, y: 145 })).toBe(false);
    await ui.undo();
    await expect.poll(() => ui.isMasked({ x: 235, y: 115 })).toBe(false);
    expect(await ui.isMasked({ x: 120, y: 220 })).toBe(true);
  });

  it('rotates a picture layer by its handle in one undo step, and the composite sent shows it rotated', async () => {
    ui.page.once('dialog', (d) => void d.accept()); // "Discard unsaved changes?"
    await ui.newProject();
    // Left half red, right half blue, dropped on the canvas.
    const png = new PNG({ width: 256, height: 256 });
    for (let i = 0; i < 256 * 256; i++) png.data.set(i % 256 < 128 ? [220, 30, 30, 255] : [30, 30, 220, 255], i * 4);
    await ui.page.evaluate(`(async () => {
      const bytes = Uint8Array.from(atob('${PNG.sync.write(png).toString('base64')}'), (c) => c.charCodeAt(0));
      const data = new DataTransfer();
      data.items.add(new File([bytes], 'halves.png', { type: 'image/png' }));
      window.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    })()`);
    await expect.poll(() => ui.layerNames()).toContain('halves.png');
    const red = async (p: { x: number; y: number }) => {
      const [r, , b] = await ui.pixel(p);
      return r - b > 100;
    };
    const blue = async (p: { x: number; y: number }) => {
      const [r, , b] = await ui.pixel(p);
      return b - r > 100;
    };
    await ui.layer('halves.png').getByTestId('layer-name').click();
    await ui.press('t');
    // Scaled down from the top-left corner to (64, 64)–(256, 256), so the rotate handle is on the stage.
    await ui.drag([{ x: 0, y: 0 }, { x: 64, y: 64 }], { steps: 6 });
    await expect.poll(() => ui.isWhite({ x: 30, y: 30 })).toBe(true);
    expect(await blue({ x: 220, y: 100 })).toBe(true);
    // The rotate handle sits 28 screen px above the top edge's middle; a quarter turn clockwise
    // about the centre (160, 160) puts the red (left) half on top.
    const handle = { x: 160, y: 64 - 28 / (await ui.scale()) };
    await ui.drag([handle, { x: 230, y: 90 }, { x: 250, y: 160 }], { steps: 8 });
    await expect.poll(() => red({ x: 220, y: 100 })).toBe(true);
    expect(await blue({ x: 100, y: 220 })).toBe(true);
    // One undo step: back to the scaled, unturned picture.
    await ui.undo();
    await expect.poll(() => blue({ x: 220, y: 100 })).toBe(true);
    expect(await ui.isWhite({ x: 30, y: 30 })).toBe(true);
    await ui.redo();
    await expect.poll(() => red({ x: 220, y: 100 })).toBe(true);
    // The init image sent is what the frame shows: red above, blue below, across the picture.
    const sent = new Promise<Record<string, unknown>>((resolve) => {
      const listen = (req: Request) => {
        if (!req.url().endsWith('/api/call') || req.method() !== 'POST') return;
        const body = req.postDataJSON() as { method?: string; params?: { request?: Record<string, unknown> } };
        if (body.method !== 'generate' || !body.params?.request) return;
        ui.page.off('request', listen);
        resolve(body.params.request);
      };
      ui.page.on('request', listen);
    });
    await ui.page.getByTestId('generate').click();
    const init = PNG.sync.read(Buffer.from(((await sent).init as { png: string }).png, 'base64'));
    const mean = (x0: number, y0: number, w: number, h: number) => {
      const sum = [0, 0, 0];
      for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) for (let c = 0; c < 3; c++) sum[c]! += init.data[(y * init.width + x) * 4 + c]!;
      return sum.map((v) => v / (w * h)) as [number, number, number];
    };
    const [tr, , tb] = mean(80, 76, 160, 64);
    const [br, , bb] = mean(80, 180, 160, 64);
    expect(tr - tb).toBeGreaterThan(150);
    expect(bb - br).toBeGreaterThan(150);
    // Shift+H flips it left↔right before the turn: blue comes on top; one undo takes it back.
    await ui.page.keyboard.press('Shift+H');
    await expect.poll(() => blue({ x: 220, y: 100 })).toBe(true);
    await ui.undo();
    await expect.poll(() => red({ x: 220, y: 100 })).toBe(true);
  }, 120_000);
});
