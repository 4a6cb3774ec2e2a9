import { newId } from '../../../../app/projects/document/index.js';
import { targetOps } from './plan-helpers.js';
import { brushTarget } from './targets.js';
import { type Gesture, type GestureContext, type Op, type PointerSample, type Preview, roundPoints } from './types.js';

// Brush and eraser: a stroke of x, y, pressure triples. It goes into a sketch layer as a vector
// stroke, or is rasterised into a paint layer; where it goes is decided at pointer down
// (targets.ts), so a refusal is said before anything is drawn.

interface StrokeState {
  points: number[];
  colour: string;
  width: number;
  /** Operations that prepare the target (create, select); run with the stroke as one step. */
  prepare: Op[];
  layerId: string;
  /** A paint layer takes pixels, a sketch layer a vector stroke. */
  raster: boolean;
}

function strokeGesture(tool: 'brush' | 'eraser'): Gesture<StrokeState> {
  return {
    begin(p: PointerSample, ctx: GestureContext) {
      if (p.button !== 0) return { state: null };
      const target = brushTarget(ctx.doc, ctx.selection, tool);
      if ('refuse' in target) return { state: null, ops: [{ op: 'hint', message: target.refuse }] };
      const { layerId, ops } = targetOps(target, ctx.selection);
      const raster = 'create' in target ? target.create.kind === 'paint' : ctx.doc.layers.find((l) => l.id === layerId)?.kind === 'paint';
      return { state: { points: [p.at.x, p.at.y, p.pressure], colour: ctx.colour, width: ctx.width, prepare: ops, layerId, raster } };
    },
    move(state, p) {
      state.points.push(p.at.x, p.at.y, p.pressure);
      return { state };
    },
    end(state) {
      const stroke = { id: newId('s'), tool, colour: state.colour, width: state.width, points: roundPoints(state.points) };
      const mark: Op = state.raster ? { op: 'paint', layerId: state.layerId, stroke } : { op: 'add-stroke', layerId: state.layerId, stroke };
      return { label: tool === 'eraser' ? 'Erase' : state.raster ? 'Paint' : 'Draw', ops: [...state.prepare, mark] };
    },
    preview(state): Preview {
      return {
        kind: 'stroke',
        stroke: { id: 'draft', tool: 'brush', colour: tool === 'eraser' ? '#808080' : state.colour, width: state.width, points: state.points },
        opacity: tool === 'eraser' ? 0.6 : 1,
        pressure: true,
      };
    },
  };
}

export const brush = strokeGesture('brush');
export const eraser = strokeGesture('eraser');
