import { describe, expect, it } from 'vitest';
import { GenerationRequest } from '../../app/contract/generation.js';
import { kindOfId, newId } from '../../app/library/ids.js';
import { formatA1111Parameters, parseA1111Text } from '../../app/formats/a1111.js';
import { atelierRecord } from '../../app/formats/stamp.js';
import { parseImportedMetadata } from '../../app/library/interchange.js';
import { buildFtsQuery, parseDateBound } from '../../app/library/search-query.js';

describe('A1111 infotext', () => {
  it('parses multi-line prompts, quoted values and sizes like A1111 does', () => {
    const parsed = parseA1111Text('line one\nline two\nNegative prompt: bad\nworse\nSteps: 5, Sampler: Euler a, Seed: 3, Size: 640x384, Lora hashes: "a: 1, b: 2", Model: x');
    expect(parsed.prompt).toBe('line one\nline two');
    expect(parsed.negativePrompt).toBe('bad\nworse');
    expect(parsed.params).toMatchObject({ Steps: '5', Sampler: 'Euler a', Seed: '3', Size: '640x384', 'Lora hashes': 'a: 1, b: 2', Model: 'x' });
  });

  it('keeps a last line with fewer than three pairs as prompt text', () => {
    expect(parseA1111Text('a photo: of a cat').prompt).toBe('a photo: of a cat');
  });

  it('reads back exactly what formatA1111Parameters writes', () => {
    const request = GenerationRequest.parse({ model: 'm', prompt: 'fox, snow: deep', negativePrompt: 'blur', sampler: 'euler_a', steps: 17, cfg: 6.5, seed: 99 });
    const meta = parseImportedMetadata({ parameters: formatA1111Parameters(request, { seed: 99, modelName: 'm', width: 512, height: 512 }) });
    expect(meta.request).toMatchObject({ prompt: 'fox, snow: deep', negativePrompt: 'blur', sampler: 'euler_a', steps: 17, cfg: 6.5, seed: 99, width: 512, height: 512, model: 'm' });
  });
});

describe('parseImportedMetadata', () => {
  it('prefers our own record and narrows it to the candidate', () => {
    const request = GenerationRequest.parse({ model: 'starter', prompt: 'p', seed: 10, batch: 4 });
    const record = atelierRecord(request, { seed: 12, index: 2 });
    const meta = parseImportedMetadata({ atelier: JSON.stringify(record), parameters: 'ignored\nSteps: 1, Sampler: Euler, Seed: 1' });
    expect(meta.source).toBe('atelier');
    expect(meta.request).toEqual({ ...request, seed: 12, batch: 1 });
  });

  it('falls back to the next format when our record is malformed, and says so', () => {
    const meta = parseImportedMetadata({ atelier: '{"format":"atelier"}', parameters: 'a cat\nSteps: 4, Sampler: DDIM, CFG scale: 3, Seed: 5, Size: 64x64, RNG: CPU' });
    expect(meta.source).toBe('a1111');
    expect(meta.request).toMatchObject({ sampler: 'ddim', seed: 5 });
    expect(meta.notes[0]).toMatch(/Atelier "atelier" chunk is malformed/);
  });

  it('follows ComfyUI links through reroutes and primitives, with the first of several samplers', () => {
    const graph = {
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'base.safetensors' } },
      '2': { class_type: 'CLIPTextEncode', inputs: { text: ['9', 0] } },
      '3': { class_type: 'CLIPTextEncode', inputs: { text: 'ugly' } },
      '4': { class_type: 'EmptyLatentImage', inputs: { width: 768, height: 512, batch_size: 1 } },
      '5': { class_type: 'KSampler', inputs: { seed: 11, steps: 8, cfg: 2.5, sampler_name: 'lcm', scheduler: 'sgm_uniform', denoise: 1, model: ['1', 0], positive: ['2', 0], negative: ['3', 0], latent_image: ['4', 0] } },
      '6': { class_type: 'KSamplerAdvanced', inputs: { noise_seed: 12, steps: 8, cfg: 1, sampler_name: 'euler', scheduler: 'normal', model: ['1', 0], positive: ['2', 0], negative: ['3', 0], latent_image: ['5', 0] } },
      '9': { class_type: 'PrimitiveNode', inputs: { value: 'a lantern' } },
    };
    const meta = parseImportedMetadata({ prompt: JSON.stringify(graph) });
    expect(meta).toMatchObject({ source: 'comfyui', prompt: 'a lantern', negativePrompt: 'ugly', modelName: 'base.safetensors', seed: 11, width: 768, height: 512 });
    expect(meta.request).toMatchObject({ sampler: 'lcm', steps: 8, cfg: 2.5 });
    expect(meta.notes.join()).toMatch(/2 samplers/);
  });

  it('survives link cycles and hostile shapes in a ComfyUI graph', () => {
    const graph = { '1': { class_type: 'KSampler', inputs: { seed: ['2', 0], positive: ['1', 0], model: ['1', 0], sampler_name: 'euler', scheduler: 'normal' } }, '2': { class_type: 'X', inputs: { seed: ['2', 0] } } };
    const meta = parseImportedMetadata({ prompt: JSON.stringify(graph) });
    expect(meta.request).toBeNull();
    expect(meta.notes.join()).toMatch(/no seed/);
    expect(parseImportedMetadata({ prompt: '[1,2,3]' }).notes[0]).toMatch(/not a JSON object/);
  });

  it('reads InvokeAI 3.x model fields and img2img mode', () => {
    const meta = parseImportedMetadata({
      invokeai_metadata: JSON.stringify({ generation_mode: 'img2img', positive_prompt: 'x', negative_prompt: '', seed: 1, steps: 10, cfg_scale: 7, scheduler: 'euler_a', width: 512, height: 512, strength: 0.4, model: { model_name: 'dream', base_model: 'sd-1' } }),
    });
    expect(meta).toMatchObject({ source: 'invokeai', mode: 'img2img', strength: 0.4, modelName: 'dream' });
    expect(meta.request).toMatchObject({ sampler: 'euler_a' });
  });
});

describe('search text → FTS5', () => {
  it('quotes every token so typed operators are words', () => {
    expect(buildFtsQuery('red fox', false).match).toBe('{prompt} : ("red" AND "fox")');
    expect(buildFtsQuery('NEAR(a, b) OR c', true).match).toBe('("near a" AND "b" AND "or" AND "c")');
  });
  it('supports phrases, prefixes and exclusions', () => {
    expect(buildFtsQuery('"golden hour" cast* -night', false).match).toBe('{prompt} : ("golden hour" AND "cast"* NOT ("night"))');
    expect(buildFtsQuery('-night -moon', false)).toEqual({ exclude: '{prompt} : ("night" OR "moon")' });
    expect(buildFtsQuery('red-fox', false).match).toBe('{prompt} : ("red fox")');
    expect(buildFtsQuery('  ', false)).toEqual({});
    expect(buildFtsQuery('!!!', false)).toEqual({ empty: true });
  });
  it('reads date-only bounds as whole local days', () => {
    const start = parseDateBound('2026-03-04', 'start');
    const end = parseDateBound('2026-03-04', 'end');
    expect(new Date(start).getHours()).toBe(0);
    expect(end - start).toBe(24 * 3600 * 1000 - 1);
  });
});

describe('ids', () => {
  it('sort in creation order and say what they name', () => {
    const ids = Array.from({ length: 200 }, (_, i) => newId('generation', 1_700_000_000_000 + Math.floor(i / 50)));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(kindOfId(ids[0]!)).toBe('generation');
    expect(kindOfId(newId('candidate'))).toBe('candidate');
  });
});
