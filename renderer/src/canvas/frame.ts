import type { Point, Rect } from './viewport.js';

// Resizing the generation frame by its handles. The frame's size is the generation size, so
// it snaps to the model's size multiple (ModelInfo.sizeMultiple: the UNet downsamples by that
// factor, 64 for SD1 and the starter) within GenerationRequest's 64…4096 limits.

/** The right edge, the bottom edge and the corner between them: the top-left stays where it is. */
export type FrameHandle = 'right' | 'bottom' | 'corner';

export const FRAME_HANDLES: readonly FrameHandle[] = ['right', 'bottom', 'corner'];

/** GenerationRequest's width/height limits. */
export const MIN_FRAME = 64;
export const MAX_FRAME = 4096;

/** A generation size from a dragged length: nearest multiple, kept within the limits (min at least one multiple). */
export function snapFrameSize(length: number, multiple: number): number {
  const step = Math.max(1, Math.round(multiple));
  const min = Math.ceil(Math.max(MIN_FRAME, step) / step) * step;
  const max = Math.floor(MAX_FRAME / step) * step;
  return Math.min(max, Math.max(min, Math.round(length / step) * step));
}

/** The frame's size while `handle` is dragged to `pointer` (canvas pixels). */
export function resizeFrame(frame: Rect, handle: FrameHandle, pointer: Point, multiple: number): { width: number; height: number } {
  return {
    width: handle === 'bottom' ? frame.width : snapFrameSize(pointer.x - frame.x, multiple),
    height: handle === 'right' ? frame.height : snapFrameSize(pointer.y - frame.y, multiple),
  };
}

/** Where a handle sits on the frame (its centre, canvas pixels). */
export function handlePosition(frame: Rect, handle: FrameHandle): Point {
  return {
    x: handle === 'bottom' ? frame.x + frame.width / 2 : frame.x + frame.width,
    y: handle === 'right' ? frame.y + frame.height / 2 : frame.y + frame.height,
  };
}
