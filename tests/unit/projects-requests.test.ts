import { describe, expect, it } from 'vitest';
import { GenerationRequest } from '../../app/contract/index.js';
import { GenerationSettings } from '../../app/contract/projects.js';
import { requestForDocument, requestFromSettings, settingsFromRequest } from '../../app/projects/document/index.js';

describe('requestForDocument', () => {
  it('replaces inline canvas pixels with a marker and keeps library and file references', () => {
    const stored = requestForDocument({
      model: 'starter',
      prompt: 'a lake',
      seed: 1,
      init: { sha256: 'a'.repeat(64) },
      inpaint: { mask: { png: 'iVBORw0KGgo=' } },
      controls: [
        { type: 'scribble', model: 'cn', image: { png: 'iVBORw0KGgo=' } },
        { type: 'canny', model: 'cn', image: { path: '/tmp/photo.png' } },
      ],
    });
    expect(stored.init).toEqual({ sha256: 'a'.repeat(64) });
    expect(stored.inpaint).toEqual({ mask: { png: '(canvas)' } });
    expect(stored.controls).toEqual([
      { type: 'scribble', model: 'cn', image: { png: '(canvas)' } },
      { type: 'canny', model: 'cn', image: { path: '/tmp/photo.png' } },
    ]);
    expect(JSON.stringify(stored)).not.toContain('iVBOR');
  });

  it('leaves out absent images instead of writing undefined', () => {
    expect(Object.keys(requestForDocument({ model: 'starter', prompt: 'x', seed: 2 }))).toEqual(['model', 'prompt', 'seed']);
  });
});

describe('SDXL micro-conditioning in the settings', () => {
  const xl = GenerationSettings.parse({ model: 'xl', prompt: 'a castle', sdxlConditioning: { originalSize: { width: 512, height: 512 }, crop: { top: 8, left: 0 }, aestheticScore: 7 } });

  it('goes into the request; the aesthetic scores only where a refiner runs', () => {
    const plain = requestFromSettings(xl, 1);
    expect(GenerationRequest.parse(plain).sdxlConditioning).toEqual({ originalSize: { width: 512, height: 512 }, crop: { top: 8, left: 0 } });
    const refined = requestFromSettings({ ...xl, refiner: { model: 'ref', switchAt: 0.8 } }, 1);
    expect(refined.sdxlConditioning).toEqual({ originalSize: { width: 512, height: 512 }, crop: { top: 8, left: 0 }, aestheticScore: 7 });
    // only a score, no refiner: nothing to send
    expect(requestFromSettings({ ...xl, sdxlConditioning: { aestheticScore: 7 } }, 1)).not.toHaveProperty('sdxlConditioning');
  });

  it('comes back on recall, and a run without it clears the panel\'s', () => {
    const request = requestFromSettings({ ...xl, refiner: { model: 'ref', switchAt: 0.8 } }, 1);
    expect(settingsFromRequest(GenerationSettings.parse({}), request).sdxlConditioning).toEqual(request.sdxlConditioning);
    expect(settingsFromRequest(xl, { model: 'xl', prompt: 'p', seed: 2 })).not.toHaveProperty('sdxlConditioning');
  });
});

describe('requestFromSettings and settingsFromRequest', () => {
  const settings = GenerationSettings.parse({ model: 'starter', prompt: 'a lake', negativePrompt: 'fog', steps: 12, cfg: 5, width: 640, height: 384, batch: 3, strength: 0.4, maskBlur: 6, onlyMasked: true, maskPadding: 16, seedPolicy: 'increment', device: 'cpu' });

  it('maps the settings to a request that the contract accepts, with strength and mask options only where they act', () => {
    const plain = requestFromSettings(settings, 99);
    expect(GenerationRequest.parse(plain)).toMatchObject({ model: 'starter', prompt: 'a lake', negativePrompt: 'fog', steps: 12, cfg: 5, width: 640, height: 384, batch: 3, seed: 99, device: 'cpu' });
    expect(plain).not.toHaveProperty('strength');
    expect(plain).not.toHaveProperty('inpaint');
    expect(plain).not.toHaveProperty('controls');
    const init = { sha256: 'c'.repeat(64) };
    const mask = { png: 'iVBORw0KGgo=' };
    const refine = requestFromSettings(settings, 7, { init, mask, parentCandidateId: 'cand', projectId: 'p1', controls: [{ type: 'scribble', model: 'cn', image: mask }] });
    expect(GenerationRequest.parse(refine)).toMatchObject({ init, strength: 0.4, inpaint: { mask, blur: 6, onlyMasked: true, padding: 16 }, parentCandidateId: 'cand', projectId: 'p1', controls: [{ type: 'scribble' }] });
  });

  it('recalls a request into settings with a fixed seed, keeping what the request does not say', () => {
    const request = requestFromSettings(settings, 1234, { init: { sha256: 'c'.repeat(64) }, mask: { png: 'iVBORw0KGgo=' } });
    const base = GenerationSettings.parse({});
    const recalled = settingsFromRequest(base, request);
    expect(recalled).toEqual({ ...settings, seed: 1234, seedPolicy: 'fixed' });
    // A txt2img request says nothing about strength or the mask: the panel keeps its own.
    expect(settingsFromRequest(base, { model: 'other', prompt: 'x', seed: 5 })).toEqual({ ...base, model: 'other', prompt: 'x', seed: 5, seedPolicy: 'fixed' });
  });
});
