import { type Gesture, type Preview, roundPoints } from './types.js';

// Mask brush and mask eraser: white (repaint) or black (keep) into the mask layer, feathered
// by the tool option. Masks are painted at one width (pressure does not apply).

export const MASK_COLOUR = '#ff3b6b';

interface MaskState {
  points: number[];
  width: number;
  feather: number;
}

function maskGesture(mode: 'paint' | 'erase'): Gesture<MaskState> {
  return {
    begin(p, ctx) {
      if (p.button !== 0) return { state: null };
      return { state: { points: [p.at.x, p.at.y, p.pressure], width: ctx.width, feather: ctx.maskFeather } };
    },
    move(state, p) {
      state.points.push(p.at.x, p.at.y, p.pressure);
      return { state };
    },
    end(state) {
      return { label: mode === 'paint' ? 'Paint mask' : 'Erase mask', ops: [{ op: 'mask', points: roundPoints(state.points), width: state.width, feather: state.feather, mode }] };
    },
    preview(state): Preview {
      return { kind: 'stroke', stroke: { id: 'draft', tool: 'brush', colour: mode === 'paint' ? MASK_COLOUR : '#202020', width: state.width, points: state.points }, opacity: 0.6, pressure: false };
    },
  };
}

export const maskPaint = maskGesture('paint');
export const maskErase = maskGesture('erase');
