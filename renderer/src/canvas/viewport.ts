// Viewport math for the canvas: pure functions, no DOM, no Konva. The stage shows the
// document scaled by `scale` and shifted by (x, y) screen pixels:
//   screen = canvas * scale + offset.

export interface Point {
  x: number;
  y: number;
}

export interface Size {
  width: number;
  height: number;
}

export interface Viewport {
  x: number;
  y: number;
  scale: number;
}

export const MIN_SCALE = 0.05;
export const MAX_SCALE = 32;

export function clampScale(scale: number): number {
  return Math.min(MAX_SCALE, Math.max(MIN_SCALE, scale));
}

export function screenToCanvas(view: Viewport, p: Point): Point {
  return { x: (p.x - view.x) / view.scale, y: (p.y - view.y) / view.scale };
}

export function canvasToScreen(view: Viewport, p: Point): Point {
  return { x: p.x * view.scale + view.x, y: p.y * view.scale + view.y };
}

/** Zoom by `factor` keeping the canvas point under `anchor` (a screen point) where it is. */
export function zoomAt(view: Viewport, anchor: Point, factor: number): Viewport {
  const scale = clampScale(view.scale * factor);
  const k = scale / view.scale;
  return { scale, x: anchor.x - (anchor.x - view.x) * k, y: anchor.y - (anchor.y - view.y) * k };
}

/**
 * One wheel notch (deltaY ≈ ±100 on most mice, small values on trackpads) becomes a smooth
 * exponential factor, so zooming in then out by the same amount returns exactly.
 */
export function wheelZoomFactor(deltaY: number): number {
  return Math.exp(-deltaY * 0.0015);
}

export function panBy(view: Viewport, dx: number, dy: number): Viewport {
  return { ...view, x: view.x + dx, y: view.y + dy };
}

/** The whole document centred in the view with a margin, never enlarged past `maxScale`. */
export function fitToView(doc: Size, view: Size, margin = 24, maxScale = 1): Viewport {
  const availW = Math.max(1, view.width - 2 * margin);
  const availH = Math.max(1, view.height - 2 * margin);
  const scale = clampScale(Math.min(availW / doc.width, availH / doc.height, maxScale));
  return { scale, x: (view.width - doc.width * scale) / 2, y: (view.height - doc.height * scale) / 2 };
}

/** Zoom steps for +/- keys: powers of √2, so two presses double or halve. */
export function zoomStep(view: Viewport, center: Point, direction: 1 | -1): Viewport {
  return zoomAt(view, center, direction > 0 ? Math.SQRT2 : Math.SQRT1_2);
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The rectangle spanned by a drag from `a` to `b`, whatever the direction. */
export function rectFromDrag(a: Point, b: Point): Rect {
  return { x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), width: Math.abs(b.x - a.x), height: Math.abs(b.y - a.y) };
}

/** Snap a generation size to the model's multiple (refusing, not rounding, is the API's job). */
export function snapDown(value: number, multiple: number): number {
  return Math.max(multiple, Math.floor(value / multiple) * multiple);
}
