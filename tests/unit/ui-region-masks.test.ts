import { describe, expect, it } from 'vitest';
import { ProjectDocument as ProjectDocumentSchema } from '../../app/contract/projects.js';
import { type Layer, type ProjectDocument, addLayer, createDocument, createLayer, updateLayer } from '../../app/projects/document/index.js';
import { inpaintMaskLayer, isRegionMask, regionMaskLayers } from '../../renderer/src/canvas/region-masks.js';

// Which mask layers are regional prompts and which one is the inpaint mask (docs/canvas.md,
// "Regional prompts"): a mask with a prompt is a region, never the inpaint mask.

const place = { x: 0, y: 0, width: 256, height: 256 };
const docWith = (...layers: Layer[]): ProjectDocument => layers.reduce((d, l) => addLayer(d, l), createDocument({ width: 256, height: 256 }));
const mask = (name: string, extra: { regionPrompt?: string; regionWeight?: number; visible?: boolean } = {}) => {
  const { visible = true, ...region } = extra;
  return { ...createLayer('mask', { name, image: { part: `parts/${name}.png` }, ...place, colour: '#ff3366' }), visible, ...region };
};

describe('region masks and the inpaint mask', () => {
  it('a mask with a prompt is a region and the inpaint mask is the topmost visible mask without one', () => {
    const doc = docWith(mask('plain'), mask('house', { regionPrompt: 'a blue house' }), mask('sky', { regionPrompt: 'a red sky', regionWeight: 0.5 }));
    expect(regionMaskLayers(doc).map((l) => [l.name, l.regionPrompt, l.regionWeight ?? 1])).toEqual([
      ['house', 'a blue house', 1],
      ['sky', 'a red sky', 0.5],
    ]);
    expect(inpaintMaskLayer(doc)?.name).toBe('plain');
  });

  it('a blank prompt, a hidden mask and weight 0 make no region; with only region masks there is no inpaint mask', () => {
    const doc = docWith(mask('blank', { regionPrompt: '   ' }), mask('hidden', { regionPrompt: 'a tree', visible: false }), mask('off', { regionPrompt: 'a dog', regionWeight: 0 }));
    expect(regionMaskLayers(doc)).toEqual([]);
    expect(doc.layers.map((l) => isRegionMask(l))).toEqual([false, true, true]);
    expect(inpaintMaskLayer(doc)?.name).toBe('blank');
    expect(inpaintMaskLayer(docWith(mask('house', { regionPrompt: 'a blue house' })))).toBeUndefined();
  });

  it('the region fields are optional and checked by the schema; updateLayer sets them', () => {
    const old = docWith(mask('plain'));
    expect(ProjectDocumentSchema.parse(JSON.parse(JSON.stringify(old)))).toEqual(old);
    const id = old.layers[0]!.id;
    const region = updateLayer(old, id, 'mask', { regionPrompt: 'a blue house', regionWeight: 1.5 });
    expect(ProjectDocumentSchema.parse(JSON.parse(JSON.stringify(region))).layers[0]).toMatchObject({ regionPrompt: 'a blue house', regionWeight: 1.5 });
    expect(() => ProjectDocumentSchema.parse({ ...region, layers: [{ ...region.layers[0], regionWeight: 3 }] })).toThrow();
    expect(() => ProjectDocumentSchema.parse({ ...region, layers: [{ ...region.layers[0], regionPrompt: 'x'.repeat(1001) }] })).toThrow();
  });
});
