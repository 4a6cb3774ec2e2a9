import { describe, expect, it } from 'vitest';
import { requestForDocument } from '../../app/projects/document/index.js';

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
