import { describe, expect, it } from 'vitest';
import { GenerationRequest } from '../../app/contract/generation.js';
import { inputDiff } from '../../renderer/src/gallery/input-diff.js';

// Comparing two tree nodes lists the inputs that differ (renderer/src/gallery/input-diff.ts).

const sha = (c: string) => c.repeat(64);
const base = GenerationRequest.parse({
  model: 'starter',
  prompt: 'a red house',
  seed: 1,
  controls: [{ type: 'scribble', model: 'starter', image: { sha256: sha('a') } }],
  regions: [{ mask: { sha256: sha('b') }, prompt: 'sky' }],
});

describe('inputDiff', () => {
  it('is empty for the same inputs', () => {
    expect(inputDiff(base, structuredClone(base))).toEqual([]);
    expect(inputDiff(null, null)).toEqual([]);
  });

  it('names an init image and mask only one side has', () => {
    const inpaint = GenerationRequest.parse({ ...base, init: { sha256: sha('c') }, inpaint: { mask: { sha256: sha('d') } } });
    expect(inputDiff(base, inpaint)).toEqual([
      { key: 'init image', a: null, b: { sha256: sha('c'), detail: '' } },
      { key: 'mask', a: null, b: { sha256: sha('d'), detail: 'blur 4' } },
    ]);
  });

  it('finds a control map with other pixels or weight, and a region with another prompt', () => {
    const other = GenerationRequest.parse({
      ...base,
      controls: [{ type: 'scribble', model: 'starter', image: { sha256: sha('a') }, weight: 0.5 }, { type: 'canny', model: 'cn', image: { sha256: sha('e') } }],
      regions: [{ mask: { sha256: sha('b') }, prompt: 'lake' }],
    });
    const rows = inputDiff(base, other);
    expect(rows.map((r) => r.key)).toEqual(['control 1', 'control 2', 'region 1']);
    expect(rows[0]).toMatchObject({ a: { detail: 'scribble · 1 · 0–1' }, b: { detail: 'scribble · 0.5 · 0–1' } });
    expect(rows[1]).toMatchObject({ a: null, b: { sha256: sha('e') } });
    expect(rows[2]).toMatchObject({ a: { detail: '“sky” · 1' }, b: { detail: '“lake” · 1' } });
  });
});
