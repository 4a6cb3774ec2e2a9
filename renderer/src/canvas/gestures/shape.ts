import { type Shape, newId } from '../../../../app/projects/document/index.js';
import { type Point, rectFromDrag } from '../viewport.js';
import { targetOps } from './plan-helpers.js';
import { shapeTarget } from './targets.js';
import { type Gesture, type GestureContext, type Op, type Preview } from './types.js';

// Line, rectangle, ellipse and labelled region box: a drag from corner to corner (Shift keeps
// a square), one shape on pointer up. Shapes are sketch marks too: they join the scribble map.

type ShapeKind = 'line' | 'rect' | 'ellipse' | 'region';

interface ShapeState {
  from: Point;
  to: Point;
  style: { stroke: string; strokeWidth: number; label: string };
  prepare: Op[];
  layerId: string;
}

/** Shift: the drag's larger side on both axes, towards the pointer. */
export function square(from: Point, to: Point): Point {
  const side = Math.max(Math.abs(to.x - from.x), Math.abs(to.y - from.y));
  return { x: from.x + Math.sign(to.x - from.x || 1) * side, y: from.y + Math.sign(to.y - from.y || 1) * side };
}

/** The shape a drag makes (id 'draft' until it is committed). */
export function shapeOf(kind: ShapeKind, state: Pick<ShapeState, 'from' | 'to' | 'style'>, id = 'draft'): Shape {
  const style = { id, stroke: state.style.stroke, strokeWidth: state.style.strokeWidth, fill: null };
  const { from, to } = state;
  if (kind === 'line') return { type: 'line', ...style, x1: from.x, y1: from.y, x2: to.x, y2: to.y };
  const r = rectFromDrag(from, to);
  if (kind === 'region') return { type: 'region', ...style, ...r, label: state.style.label };
  return { type: kind === 'ellipse' ? 'ellipse' : 'rectangle', ...style, ...r };
}

function shapeGesture(kind: ShapeKind): Gesture<ShapeState> {
  return {
    begin(p, ctx: GestureContext) {
      if (p.button !== 0) return { state: null };
      const target = shapeTarget(ctx.doc, ctx.selection);
      if ('refuse' in target) return { state: null, ops: [{ op: 'hint', message: target.refuse }] };
      const { layerId, ops } = targetOps(target, ctx.selection);
      return { state: { from: p.at, to: p.at, style: { stroke: ctx.colour, strokeWidth: ctx.width, label: ctx.regionLabel }, prepare: ops, layerId } };
    },
    move(state, p) {
      state.to = p.shift ? square(state.from, p.at) : p.at;
      return { state };
    },
    end(state) {
      const r = rectFromDrag(state.from, state.to);
      // A click (no drag) draws nothing; a line only needs some length.
      if (kind === 'line' ? Math.hypot(r.width, r.height) < 2 : r.width < 2 || r.height < 2) return null;
      return { label: `Draw ${kind}`, ops: [...state.prepare, { op: 'add-shape', layerId: state.layerId, shape: shapeOf(kind, state, newId('h')) }] };
    },
    preview(state): Preview {
      return { kind: 'shape', shape: shapeOf(kind, state), dashed: kind === 'region' };
    },
  };
}

export const line = shapeGesture('line');
export const rect = shapeGesture('rect');
export const ellipse = shapeGesture('ellipse');
export const region = shapeGesture('region');
