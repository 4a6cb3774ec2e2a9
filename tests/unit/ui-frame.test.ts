import { describe, expect, it } from 'vitest';
import { handlePosition, resizeFrame, snapFrameSize } from '../../renderer/src/canvas/frame.js';

describe('generation frame resize', () => {
  it('snaps a dragged length to the nearest size multiple within 64…4096', () => {
    expect(snapFrameSize(600, 64)).toBe(576);
    expect(snapFrameSize(610, 64)).toBe(640);
    expect(snapFrameSize(10, 64)).toBe(64);
    expect(snapFrameSize(-50, 64)).toBe(64);
    expect(snapFrameSize(99_999, 64)).toBe(4096);
    expect(snapFrameSize(197, 16)).toBe(192);
    // A multiple under 64 still never goes below GenerationRequest's 64.
    expect(snapFrameSize(20, 8)).toBe(64);
  });

  it('moves only the dragged edges; the top-left stays put', () => {
    const frame = { x: 100, y: 50, width: 512, height: 512 };
    expect(resizeFrame(frame, 'corner', { x: 100 + 700, y: 50 + 300 }, 64)).toEqual({ width: 704, height: 320 });
    expect(resizeFrame(frame, 'right', { x: 100 + 700, y: 9999 }, 64)).toEqual({ width: 704, height: 512 });
    expect(resizeFrame(frame, 'bottom', { x: 9999, y: 50 + 300 }, 64)).toEqual({ width: 512, height: 320 });
  });

  it('places handles on the right edge, the bottom edge and the corner', () => {
    const frame = { x: 10, y: 20, width: 64, height: 128 };
    expect(handlePosition(frame, 'right')).toEqual({ x: 74, y: 84 });
    expect(handlePosition(frame, 'bottom')).toEqual({ x: 42, y: 148 });
    expect(handlePosition(frame, 'corner')).toEqual({ x: 74, y: 148 });
  });
});
