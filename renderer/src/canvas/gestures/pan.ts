import { type Point, type Viewport, panBy } from '../viewport.js';
import type { Gesture } from './types.js';

// Pan: the hand tool, Space-drag and the middle button (CanvasView routes those here). The
// view follows the pointer from where the drag started, so no movement is lost or doubled.

interface PanState {
  start: Point;
  view: Viewport;
}

export const pan: Gesture<PanState> = {
  begin(p, ctx) {
    return { state: { start: p.screen, view: ctx.viewport } };
  },
  move(state, p) {
    return { state, ops: [{ op: 'viewport', viewport: panBy(state.view, p.screen.x - state.start.x, p.screen.y - state.start.y) }] };
  },
  end() {
    return null;
  },
};
