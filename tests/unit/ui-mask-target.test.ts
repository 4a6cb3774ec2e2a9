import { describe, expect, it } from 'vitest';
import { addLayer, createDocument, createLayer } from '../../app/projects/document/index.js';
import { maskToolTarget } from '../../renderer/src/canvas/region-masks.js';

// Which mask the mask brush and the Mask panel act on once a mask can be a region (a mask with
// its own prompt): the one the artist selected, else the inpaint mask — never a region mask
// just because it is on top (docs/canvas.md, "Regional prompts").

function doc() {
  const mask = (part: string, regionPrompt?: string) =>
    createLayer('mask', { image: { part }, x: 0, y: 0, width: 8, height: 8, colour: '#ff3b6b', ...(regionPrompt ? { regionPrompt } : {}) });
  const inpaint = mask('inpaint.png');
  const region = mask('region.png', 'a red house');
  const sketch = createLayer('sketch', { strokes: [] });
  return { d: addLayer(addLayer(addLayer(createDocument({ width: 8, height: 8 }), sketch), inpaint), region), sketch, inpaint, region };
}

describe('the mask the mask tools act on', () => {
  it('is the inpaint mask when a region mask lies above it and neither is selected', () => {
    const { d, sketch, inpaint } = doc();
    expect(maskToolTarget(d, sketch.id)?.id).toBe(inpaint.id);
    expect(maskToolTarget(d, undefined)?.id).toBe(inpaint.id);
  });

  it('is the region mask when the artist selected it', () => {
    const { d, region } = doc();
    expect(maskToolTarget(d, region.id)?.id).toBe(region.id);
  });

  it('is none (make one) when the only mask is a region', () => {
    const { d, sketch, inpaint } = doc();
    const onlyRegion = { ...d, layers: d.layers.filter((l) => l.id !== inpaint.id) };
    expect(maskToolTarget(onlyRegion, sketch.id)).toBeUndefined();
  });
});
