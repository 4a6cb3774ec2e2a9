import type { Layer, ProjectDocument } from '../../../app/projects/document/index.js';
import type { Rect } from './viewport.js';

// Outpainting (docs/canvas.md, Outpainting): a frame pushed past the canvas is filled by a masked
// generation, and accepting its result grows the canvas to hold it. Pure: the geometry and the
// document change; request-images.ts renders the pixels.

/** Whether the frame reaches past the canvas on any side. */
export function frameOutside(doc: ProjectDocument, frame: Rect): boolean {
  const { width, height } = doc.canvas;
  return frame.x < 0 || frame.y < 0 || frame.x + frame.width > width || frame.y + frame.height > height;
}

/** The canvas's rectangle inside the frame, in frame pixels (empty when they do not meet). */
export function canvasInFrame(doc: ProjectDocument, frame: Rect): Rect {
  const x0 = Math.max(0, -frame.x);
  const y0 = Math.max(0, -frame.y);
  const x1 = Math.min(frame.width, doc.canvas.width - frame.x);
  const y1 = Math.min(frame.height, doc.canvas.height - frame.y);
  return { x: x0, y: y0, width: Math.max(0, x1 - x0), height: Math.max(0, y1 - y0) };
}

function shiftLayer(layer: Layer, dx: number, dy: number): Layer {
  switch (layer.kind) {
    case 'sketch':
      return { ...layer, strokes: layer.strokes.map((s) => ({ ...s, points: s.points.map((v, i) => (i % 3 === 0 ? v + dx : i % 3 === 1 ? v + dy : v)) })) };
    case 'shapes':
      return {
        ...layer,
        shapes: layer.shapes.map((s) => (s.type === 'line' ? { ...s, x1: s.x1 + dx, y1: s.y1 + dy, x2: s.x2 + dx, y2: s.y2 + dy } : { ...s, x: s.x + dx, y: s.y + dy })),
      };
    case 'control':
      // A control map of its own covers the canvas from its corner: it moves with the picture.
      return layer;
    default:
      return { ...layer, x: layer.x + dx, y: layer.y + dy };
  }
}

/**
 * The document grown to hold `rect` (canvas pixels). Growing left or up moves the canvas's
 * origin: every layer shifts by the returned (dx, dy) so nothing moves on screen relative to
 * the picture, and the caller shifts the frame by the same amount.
 */
export function growToInclude(doc: ProjectDocument, rect: Rect): { doc: ProjectDocument; dx: number; dy: number } {
  const dx = Math.max(0, Math.ceil(-rect.x));
  const dy = Math.max(0, Math.ceil(-rect.y));
  const width = Math.max(doc.canvas.width + dx, Math.ceil(rect.x + rect.width) + dx);
  const height = Math.max(doc.canvas.height + dy, Math.ceil(rect.y + rect.height) + dy);
  if (dx === 0 && dy === 0 && width === doc.canvas.width && height === doc.canvas.height) return { doc, dx, dy };
  const layers = dx === 0 && dy === 0 ? doc.layers : doc.layers.map((l) => shiftLayer(l, dx, dy));
  return { doc: { ...doc, canvas: { ...doc.canvas, width, height }, layers }, dx, dy };
}
