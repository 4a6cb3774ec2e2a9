import { describe, expect, it } from 'vitest';
import type { ModelEntry, ModelInfo } from '../../app/contract/index.js';
import { GenerationSettings } from '../../app/contract/projects.js';
import { requestFromSettings, settingsFromRequest } from '../../app/projects/document/requests.js';
import { familyLabel, modelGroups, presetForAspect, refinerCandidates, settingsForModel, sizePresets } from '../../renderer/src/prompt/model-size.js';

// The prompt panel's model families and sizes (renderer/src/prompt/model-size.ts): what picking
// a model does to the frame and the refiner, the presets, and which models can refine.

const PANEL_DEFAULT = { width: 512, height: 512 };

function entry(id: string, family: ModelInfo['family'], native: number, over: Partial<ModelInfo> = {}): ModelEntry {
  return {
    id, name: id, path: `/models/${id}`, builtIn: false, valid: true,
    info: {
      path: `/models/${id}`, family, prediction: 'epsilon', unetInChannels: 4, inpainting: false, lcm: false, acceptsControlnet: false, textEmbedDim: 768,
      defaultWidth: native, defaultHeight: native, sizeMultiple: 64, dtype: 'float16', controlnets: [], notes: [],
      components: { text_encoder: { path: 'text_encoder/model.onnx', inputs: [], outputs: [] }, text_encoder_2: { path: 'text_encoder_2/model.onnx', inputs: [], outputs: [] } },
      ...over,
    },
  };
}

const starter = entry('starter', 'unknown', 256);
const sd15 = entry('sd15', 'sd1', 512);
const xl = entry('xl', 'sdxl', 1024, { sizePresets: [{ width: 1024, height: 1024 }, { width: 1152, height: 896 }, { width: 896, height: 1152 }, { width: 1344, height: 768 }, { width: 768, height: 1344 }] });
const xlRefiner = entry('xl-refiner', 'sdxl', 1024, { components: { text_encoder_2: { path: 'text_encoder_2/model.onnx', inputs: [], outputs: [] } } });
const xlInpaint = entry('xl-inpaint', 'sdxl', 1024, { unetInChannels: 9, inpainting: true });
const models = [starter, sd15, xl, xlRefiner, xlInpaint];
const settings = (over: Record<string, unknown>) => GenerationSettings.parse({ model: 'sd15', ...over });

describe('picking a model', () => {
  it('moves a frame at the old model\'s native size to the new one\'s, and leaves a sized frame alone', () => {
    expect(settingsForModel(settings({ width: 512, height: 512 }), models, 'xl', PANEL_DEFAULT)).toEqual({ model: 'xl', width: 1024, height: 1024, refiner: undefined });
    expect(settingsForModel(settings({ model: 'xl', width: 1024, height: 1024 }), models, 'starter', PANEL_DEFAULT)).toMatchObject({ width: 256, height: 256 });
    // The artist's own 640×384 stays.
    expect(settingsForModel(settings({ width: 640, height: 384 }), models, 'xl', PANEL_DEFAULT)).toEqual({ model: 'xl' });
    // The panel's untouched default counts as "not sized by the artist" for a model with another native size.
    expect(settingsForModel(settings({ model: 'starter', width: 512, height: 512 }), models, 'xl', PANEL_DEFAULT)).toMatchObject({ width: 1024, height: 1024 });    // A frame at one of the old model's presets goes to the new model's preset of the nearest aspect.
    const sd15Presets = entry('sd15p', 'sd1', 512, { sizePresets: [{ width: 512, height: 512 }, { width: 640, height: 448 }, { width: 448, height: 640 }] });
    expect(settingsForModel(settings({ model: 'sd15p', width: 448, height: 640 }), [...models, sd15Presets], 'xl', PANEL_DEFAULT)).toMatchObject({ width: 896, height: 1152 });
  });

  it('keeps the refiner and the micro-conditioning only on SDXL models', () => {
    const withRefiner = settings({ model: 'xl', width: 1024, height: 1024, refiner: { model: 'xl-refiner', switchAt: 0.7 }, sdxlConditioning: { originalSize: { width: 512, height: 512 } } });
    expect(settingsForModel(withRefiner, models, 'xl-inpaint', PANEL_DEFAULT)).toEqual({ model: 'xl-inpaint' });
    const toSd = settingsForModel(withRefiner, models, 'sd15', PANEL_DEFAULT);
    expect(toSd).toMatchObject({ refiner: undefined, width: 512 });
    expect(Object.keys(toSd)).toEqual(expect.arrayContaining(['refiner', 'sdxlConditioning']));
    expect(toSd.sdxlConditioning).toBeUndefined();
  });
});

describe('sizes and refiners', () => {
  it('offers the presets, native first, and the one nearest the frame\'s aspect', () => {
    expect(sizePresets(xl.info)[0]).toEqual({ width: 1024, height: 1024 });
    expect(sizePresets(sd15.info)).toEqual([{ width: 512, height: 512 }]);
    expect(presetForAspect(sizePresets(xl.info), { width: 640, height: 384 })).toEqual({ width: 1344, height: 768 });
    expect(presetForAspect(sizePresets(xl.info), { width: 448, height: 576 })).toEqual({ width: 896, height: 1152 });
    expect(presetForAspect(sizePresets(xl.info), { width: 512, height: 512 })).toEqual({ width: 1024, height: 1024 });
  });

  it('groups the picker by family and native size, and lists SDXL 4-channel models as refiners, the refiner first', () => {
    expect(familyLabel(xl.info)).toBe('SDXL · 1024×1024');
    expect(familyLabel(entry('v', 'sd2', 768, { prediction: 'v_prediction' }).info)).toBe('SD 2.x v-prediction · 768×768');
    expect(modelGroups(models).map((g) => [g.label, g.models.map((m) => m.id)])).toEqual([
      ['SD-style · 256×256', ['starter']], ['SD 1.x · 512×512', ['sd15']], ['SDXL · 1024×1024', ['xl', 'xl-refiner']], ['SDXL inpainting · 1024×1024', ['xl-inpaint']],
    ]);
    expect(refinerCandidates(models, 'xl').map((m) => m.id)).toEqual(['xl-refiner']);
    expect(refinerCandidates([...models, entry('xl2', 'sdxl', 1024)], 'xl').map((m) => m.id)).toEqual(['xl-refiner', 'xl2']);
  });

  it('recall replaces the panel\'s refiner, also when merged over the panel\'s settings', () => {
    const panel = settings({ model: 'xl', refiner: { model: 'xl-refiner', switchAt: 0.7 } });
    // The studio merges the recalled settings over its own (StudioController.updateSettings).
    expect({ ...panel, ...settingsFromRequest(panel, { model: 'xl', prompt: 'p', seed: 1 }) }.refiner).toBeUndefined();
    expect({ ...panel, ...settingsFromRequest(panel, { model: 'xl', prompt: 'p', seed: 1, refiner: { model: 'other', switchAt: 0.5 } }) }.refiner).toEqual({ model: 'other', switchAt: 0.5 });
  });

  it('sends the refiner with text-to-image and img2img, not with inpainting', () => {
    const s = settings({ model: 'xl', refiner: { model: 'xl-refiner', switchAt: 0.7 } });
    expect(requestFromSettings(s, 1).refiner).toEqual({ model: 'xl-refiner', switchAt: 0.7 });
    expect(requestFromSettings(s, 1, { init: { sha256: 'a'.repeat(64) } }).refiner).toEqual({ model: 'xl-refiner', switchAt: 0.7 });
    expect(requestFromSettings(s, 1, { init: { sha256: 'a'.repeat(64) }, mask: { sha256: 'b'.repeat(64) } }).refiner).toBeUndefined();
  });
});
