import type { Layer, ProjectDocument, Shape, Stroke } from '../../../../app/projects/document/index.js';
import type { Point, Rect, Viewport } from '../viewport.js';

// The canvas tools as gesture modules (docs/canvas.md): pointer samples in, a plan of operations out. A
// gesture never touches the DOM, Konva, the stores or the document history; CanvasView feeds
// it pointer samples and hands what it returns to plan.ts, which carries the operations out
// (the live ones at once, the document ones as one undo step). So a tool is one file under
// gestures/ plus its row in gestures/index.ts, and its logic is unit-tested without a browser.

/** One pointer event, already in canvas coordinates. */
export interface PointerSample {
  /** Stage (screen) pixels, for panning. */
  screen: Point;
  /** Canvas pixels. */
  at: Point;
  /** 0..1; a mouse reports the Pointer Events neutral 0.5. */
  pressure: number;
  button: number;
  shift: boolean;
  /** The Konva node name under the pointer ('frame-handle-right', …), '' for none. */
  target: string;
}

/** What a gesture may read: the document, the selection, tool options and the view. */
export interface GestureContext {
  doc: ProjectDocument;
  selection: readonly string[];
  colour: string;
  width: number;
  maskFeather: number;
  regionLabel: string;
  viewport: Viewport;
  /** The generation frame: top-left and the generation size. */
  frame: Rect;
  /** The chosen model's size multiple (the frame snaps to it). */
  sizeMultiple: number;
}

/** A layer a plan makes (kind-specific content is filled in by the executor: a paint layer's blank pixels). */
export interface NewLayer {
  kind: 'sketch' | 'shapes' | 'paint';
  id: string;
  /** Position counted from the bottom, as addLayer takes it. */
  index: number;
}

/**
 * One operation of a plan. Live ones (viewport, frame, frame-size, hint) change what the artist
 * sees during the drag; the others edit the document and run together as one undo step.
 */
export type Op =
  | { op: 'viewport'; viewport: Viewport }
  | { op: 'frame'; x: number; y: number }
  /** The frame's position into the document (saved with it; not an undo step). */
  | { op: 'commit-frame'; x: number; y: number }
  | { op: 'frame-size'; width: number; height: number }
  /** Commits a resized frame to the document's generation settings (the drag's one undo step). */
  | { op: 'commit-frame-size'; from: { width: number; height: number }; to: { width: number; height: number } }
  | { op: 'create-layer'; layer: NewLayer }
  | { op: 'select'; layerId: string }
  | { op: 'add-stroke'; layerId: string; stroke: Stroke }
  | { op: 'add-shape'; layerId: string; shape: Shape }
  /** Rasterises a stroke into a paint layer's pixels (points in canvas coordinates). */
  | { op: 'paint'; layerId: string; stroke: Stroke }
  /** Paints or erases the mask layer (made when there is none); points in canvas coordinates. */
  | { op: 'mask'; points: number[]; width: number; feather: number; mode: 'paint' | 'erase' }
  /** Adds a selected area to the mask layer (made when there is none), feathered. */
  | { op: 'mask-area'; area: MaskArea; feather: number }
  /** Moves, scales, rotates or flips a placed layer (paint, reference, candidate; a mask moves and scales only). */
  | { op: 'place'; layerId: string; kind: 'paint' | 'reference' | 'generated' | 'mask'; placement: Rect & { rotation?: number; flipX?: boolean; flipY?: boolean } }
  /** Tells the artist why nothing happened. */
  | { op: 'hint'; message: string };

/** An area of the canvas (canvas pixels): a rectangle, the ellipse inside one, or a polygon of flat x, y pairs. */
export type MaskArea = { kind: 'rect' | 'ellipse'; rect: Rect } | { kind: 'polygon'; points: number[] };

/** The document part of a gesture: its undo label and operations. */
export interface Plan {
  label: string;
  ops: Op[];
}

/** What is drawn on the overlay while the gesture lasts. */
export type Preview =
  | { kind: 'stroke'; stroke: Stroke; opacity: number; /** false: drawn at one width, as masks are painted. */ pressure: boolean }
  | { kind: 'shape'; shape: Shape; dashed: boolean }
  /** Where a layer being moved, scaled or rotated will go (rotation in degrees about its centre). */
  | { kind: 'box'; rect: Rect & { rotation?: number } };

export interface Step<S> {
  /** null: the gesture does not go on (a refusal, or a button it ignores). */
  state: S | null;
  ops?: Op[];
}

export interface Gesture<S> {
  begin(p: PointerSample, ctx: GestureContext): Step<S>;
  move(state: S, p: PointerSample, ctx: GestureContext): Step<S>;
  end(state: S, ctx: GestureContext): Plan | null;
  preview?(state: S): Preview | null;
}

/** A tool: its toolbar button, its key, its cursor and its gesture. */
export interface ToolSpec {
  label: string;
  icon: string;
  /** The shortcut shown and handled ('Space' and 'Shift+M' are handled elsewhere). */
  key?: string;
  cursor: string;
  gesture: Gesture<unknown>;
}

/** Canvas pixels rounded to hundredths: strokes stay small in JSON. */
export function roundPoints(points: readonly number[]): number[] {
  return points.map((v) => Math.round(v * 100) / 100);
}

export type { Layer };
