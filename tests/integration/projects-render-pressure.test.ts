import { describe, expect, it } from 'vitest';
import { addLayer, addStroke, createDocument, createLayer } from '../../app/projects/document/index.js';
import { renderLayer } from '../../app/projects/render.js';

// Exports rasterise sketches in Node (SVG through sharp); they follow the same pressure rule
// as the canvas: a mouse stroke (pressure 0.5) at its nominal width, a pen stroke wider
// where pressed harder.

function alphaAt(image: { width: number; data: Uint8Array }, x: number, y: number): number {
  return image.data[(y * image.width + x) * 4 + 3] ?? 0;
}

/** Rows of the column x whose alpha is over half. */
function thickness(image: { width: number; height: number; data: Uint8Array }, x: number): number {
  let rows = 0;
  for (let y = 0; y < image.height; y++) if (alphaAt(image, x, y) > 127) rows++;
  return rows;
}

describe('sketch export and pen pressure', () => {
  it('draws a mouse stroke at its nominal width and a pen stroke from thin to wide', async () => {
    const sketch = createLayer('sketch', { strokes: [], id: 'lsk' });
    let doc = addLayer(createDocument({ width: 200, height: 100, id: 'ppress' }), sketch);
    doc = addStroke(doc, sketch.id, { id: 'smouse', tool: 'brush', colour: '#000000', width: 10, points: [10, 25, 0.5, 190, 25, 0.5] });
    doc = addStroke(doc, sketch.id, { id: 'spen', tool: 'brush', colour: '#000000', width: 10, points: [10, 70, 0.1, 100, 70, 0.1, 110, 70, 1, 190, 70, 1] });
    const layer = doc.layers.find((l) => l.id === sketch.id)!;
    const image = await renderLayer(doc, {}, layer);
    // Mouse stroke: 10 px wide, the width the canvas draws it at.
    let mouseRows = 0;
    for (let y = 0; y < 50; y++) if (alphaAt(image, 100, y) > 127) mouseRows++;
    expect(mouseRows).toBeGreaterThanOrEqual(9);
    expect(mouseRows).toBeLessThanOrEqual(11);
    // Pen stroke: 2 px at pressure 0.1, 20 px at pressure 1.
    const light = thickness({ ...image, data: image.data.subarray(50 * image.width * 4), height: 50 }, 50);
    const hard = thickness({ ...image, data: image.data.subarray(50 * image.width * 4), height: 50 }, 150);
    expect(light).toBeLessThanOrEqual(3);
    expect(hard).toBeGreaterThanOrEqual(19);
    expect(hard).toBeLessThanOrEqual(21);
  });
});
