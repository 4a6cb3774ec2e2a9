import { type Point, rectFromDrag } from '../viewport.js';
import { square } from './shape.js';
import type { Gesture, MaskArea, Preview } from './types.js';

// Selections that become masks (docs/canvas.md): a rectangle or an ellipse dragged corner to
// corner (Shift: a square or circle), or a lasso traced freehand. The area is added to the
// mask layer, feathered by the mask tool's feather, in one undo step.

interface BoxState {
  from: Point;
  to: Point;
  feather: number;
}

function boxSelection(kind: 'rect' | 'ellipse'): Gesture<BoxState> {
  return {
    begin(p, ctx) {
      if (p.button !== 0) return { state: null };
      return { state: { from: p.at, to: p.at, feather: ctx.maskFeather } };
    },
    move(state, p) {
      return { state: { ...state, to: p.shift ? square(state.from, p.at) : p.at } };
    },
    end(state) {
      const rect = rectFromDrag(state.from, state.to);
      if (rect.width < 2 || rect.height < 2) return null;
      const area: MaskArea = { kind, rect };
      return { label: kind === 'rect' ? 'Select rectangle' : 'Select ellipse', ops: [{ op: 'mask-area', area, feather: state.feather }] };
    },
    preview(state): Preview {
      const r = rectFromDrag(state.from, state.to);
      return { kind: 'shape', dashed: true, shape: { type: kind === 'rect' ? 'rectangle' : 'ellipse', id: 'draft', stroke: '#ff3b6b', strokeWidth: 2, fill: '#ff3b6b33', ...r } };
    },
  };
}

interface LassoState {
  points: number[];
  feather: number;
}

export const lasso: Gesture<LassoState> = {
  begin(p, ctx) {
    if (p.button !== 0) return { state: null };
    return { state: { points: [p.at.x, p.at.y], feather: ctx.maskFeather } };
  },
  move(state, p) {
    state.points.push(p.at.x, p.at.y);
    return { state };
  },
  end(state) {
    // A lasso needs an area: three corners at least.
    if (state.points.length < 6) return null;
    return { label: 'Select lasso', ops: [{ op: 'mask-area', area: { kind: 'polygon', points: state.points.map((v) => Math.round(v * 100) / 100) }, feather: state.feather }] };
  },
  preview(state): Preview {
    const points: number[] = [];
    for (let i = 0; i < state.points.length; i += 2) points.push(state.points[i] ?? 0, state.points[i + 1] ?? 0, 0.5);
    return { kind: 'stroke', stroke: { id: 'draft', tool: 'brush', colour: '#ff3b6b', width: 2, points }, opacity: 1, pressure: false };
  },
};

export const selectRect = boxSelection('rect');
export const selectEllipse = boxSelection('ellipse');
