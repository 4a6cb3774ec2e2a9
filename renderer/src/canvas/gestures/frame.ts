import { FRAME_HANDLES, type FrameHandle, resizeFrame } from '../frame.js';
import type { Point, Rect } from '../viewport.js';
import type { Gesture } from './types.js';

// The move tool (V): drag the generation frame, or resize it by a handle. The frame's size is
// the generation size: it snaps to the model's multiple during the drag, and the drag becomes
// one undo step in the document's generation settings. A move ends by writing the position
// into the document, so it is saved with the project (not an undo step, as a view change).

type FrameState = { kind: 'move'; offset: Point; from: Point; last: Point } | { kind: 'resize'; handle: FrameHandle; start: Rect; size: { width: number; height: number } };

function handleOf(target: string): FrameHandle | undefined {
  const name = /^frame-handle-(\w+)$/.exec(target)?.[1];
  return FRAME_HANDLES.find((h) => h === name);
}

export const frameMove: Gesture<FrameState> = {
  begin(p, ctx) {
    if (p.button !== 0) return { state: null };
    const handle = handleOf(p.target);
    if (handle) return { state: { kind: 'resize', handle, start: ctx.frame, size: { width: ctx.frame.width, height: ctx.frame.height } } };
    const from = { x: ctx.frame.x, y: ctx.frame.y };
    return { state: { kind: 'move', offset: { x: p.at.x - ctx.frame.x, y: p.at.y - ctx.frame.y }, from, last: from } };
  },
  move(state, p, ctx) {
    if (state.kind === 'move') {
      const x = Math.round(p.at.x - state.offset.x);
      const y = Math.round(p.at.y - state.offset.y);
      return { state: { ...state, last: { x, y } }, ops: [{ op: 'frame', x, y }] };
    }
    const size = resizeFrame(state.start, state.handle, p.at, ctx.sizeMultiple);
    if (size.width === state.size.width && size.height === state.size.height) return { state };
    return { state: { ...state, size }, ops: [{ op: 'frame-size', ...size }] };
  },
  end(state) {
    if (state.kind === 'move') {
      if (state.last.x === state.from.x && state.last.y === state.from.y) return null;
      return { label: 'Move frame', ops: [{ op: 'commit-frame', ...state.last }] };
    }
    const from = { width: state.start.width, height: state.start.height };
    if (state.size.width === from.width && state.size.height === from.height) return null;
    return { label: 'Resize frame', ops: [{ op: 'commit-frame-size', from, to: state.size }] };
  },
};
