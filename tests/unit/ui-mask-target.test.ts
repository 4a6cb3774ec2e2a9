import { describe, expect, it } from 'vitest';
import { addLayer, createLayer, pngToDataUrl } from '../../app/projects/document/index.js';
import { ensureMaskLayer } from '../../renderer/src/canvas/plan.js';
import { DocumentSession } from '../../renderer/src/state/document.js';
import { stubPng } from '../fixtures/projects/sample-document.js';

// Which mask the mask brush and the Mask panel act on once a mask can be a region (a mask with
// its own prompt): the one the artist selected, else the inpaint mask — never a region mask
// just because it is on top (docs/canvas.md, "Regional prompts").

function session() {
  const s = new DocumentSession();
  const mask = (regionPrompt?: string) => {
    const image = s.addAsset(pngToDataUrl(stubPng(`mask-${regionPrompt ?? 'inpaint'}`)));
    return createLayer('mask', { image, x: 0, y: 0, width: 8, height: 8, colour: '#ff3b6b', ...(regionPrompt ? { regionPrompt } : {}) });
  };
  const inpaint = mask();
  const region = mask('a red house');
  s.history.change((d) => addLayer(addLayer(d, inpaint), region));
  return { s, inpaint, region };
}

describe('the mask the mask tools paint into', () => {
  it('is the inpaint mask when a region mask lies above it and neither is selected', () => {
    const { s, inpaint } = session();
    s.history.select([s.doc.layers[0]!.id]);
    expect(ensureMaskLayer(s).id).toBe(inpaint.id);
    expect(s.history.selection).toEqual([inpaint.id]);
  });

  it('is the region mask when the artist selected it', () => {
    const { s, region } = session();
    s.history.select([region.id]);
    expect(ensureMaskLayer(s).id).toBe(region.id);
  });
});
