import type { Layer, ProjectDocument } from '../../../../app/projects/document/index.js';
import type { Point, Rect } from '../viewport.js';
import { refusal } from './targets.js';
import type { Gesture, GestureContext } from './types.js';

// The transform tool (T): move a picture layer by dragging it, scale it by a corner handle
// (the opposite corner stays; the aspect ratio is kept unless Shift is held). The layer's
// placement changes once, on pointer up: one undo step per drag (docs/canvas.md).

export type Corner = 'nw' | 'ne' | 'sw' | 'se';
export const CORNERS: readonly Corner[] = ['nw', 'ne', 'sw', 'se'];

/** Layers placed by a rectangle that the tool moves and scales. */
export type Placed = Extract<Layer, { kind: 'paint' | 'reference' | 'generated' | 'mask' }>;

export function isPlaced(layer: Layer | undefined): layer is Placed {
  return layer !== undefined && (layer.kind === 'paint' || layer.kind === 'reference' || layer.kind === 'generated' || layer.kind === 'mask');
}

/** A corner's position on a rectangle. */
export function cornerPosition(r: Rect, corner: Corner): Point {
  return { x: corner.endsWith('w') ? r.x : r.x + r.width, y: corner.startsWith('n') ? r.y : r.y + r.height };
}

const MIN_SIDE = 1;

/**
 * The rectangle while `corner` is dragged to `pointer`: the opposite corner stays put; with
 * `keepAspect` the larger relative change sets both sides. Never thinner than a pixel (a drag
 * past the opposite corner stops there: flipping is not a placement).
 */
export function scaleRect(start: Rect, corner: Corner, pointer: Point, keepAspect: boolean): Rect {
  const anchor = cornerPosition(start, corner === 'nw' ? 'se' : corner === 'ne' ? 'sw' : corner === 'sw' ? 'ne' : 'nw');
  const sx = corner.endsWith('w') ? -1 : 1;
  const sy = corner.startsWith('n') ? -1 : 1;
  let width = Math.max(MIN_SIDE, (pointer.x - anchor.x) * sx);
  let height = Math.max(MIN_SIDE, (pointer.y - anchor.y) * sy);
  if (keepAspect) {
    const k = Math.max(width / start.width, height / start.height);
    width = Math.max(MIN_SIDE, start.width * k);
    height = Math.max(MIN_SIDE, start.height * k);
  }
  const round = (v: number) => Math.round(v * 100) / 100;
  return { x: round(sx > 0 ? anchor.x : anchor.x - width), y: round(sy > 0 ? anchor.y : anchor.y - height), width: round(width), height: round(height) };
}

function inside(r: Rect, p: Point): boolean {
  return p.x >= r.x && p.x <= r.x + r.width && p.y >= r.y && p.y <= r.y + r.height;
}

/** The layer a press picks: the selected placed layer where it is pressed, else the topmost visible picture under the pointer. */
export function layerAt(doc: ProjectDocument, selection: readonly string[], p: Point): Placed | undefined {
  const selected = doc.layers.find((l) => l.id === selection[0]);
  if (isPlaced(selected) && inside(selected, p)) return selected;
  return [...doc.layers].reverse().find((l): l is Placed => isPlaced(l) && l.kind !== 'mask' && l.visible && inside(l, p));
}

interface TransformState {
  layerId: string;
  kind: Placed['kind'];
  mode: { kind: 'move'; grab: Point } | { kind: 'scale'; corner: Corner };
  start: Rect;
  rect: Rect;
}

function handleOf(target: string): Corner | undefined {
  const name = /^transform-handle-(\w+)$/.exec(target)?.[1];
  return CORNERS.find((c) => c === name);
}

export const transform: Gesture<TransformState> = {
  begin(p, ctx: GestureContext) {
    if (p.button !== 0) return { state: null };
    const corner = handleOf(p.target);
    const selected = ctx.doc.layers.find((l) => l.id === ctx.selection[0]);
    const layer = corner && isPlaced(selected) ? selected : layerAt(ctx.doc, ctx.selection, p.at);
    if (!layer) return { state: null, ops: [{ op: 'hint', message: 'Press on a picture layer to move it, or on a corner handle to scale it' }] };
    const why = refusal(layer);
    if (why) return { state: null, ops: [{ op: 'hint', message: why }] };
    const start = { x: layer.x, y: layer.y, width: layer.width, height: layer.height };
    const ops = layer.id === ctx.selection[0] ? [] : [{ op: 'select' as const, layerId: layer.id }];
    return {
      state: { layerId: layer.id, kind: layer.kind, mode: corner ? { kind: 'scale', corner } : { kind: 'move', grab: { x: p.at.x - layer.x, y: p.at.y - layer.y } }, start, rect: start },
      ops,
    };
  },
  move(state, p) {
    const rect =
      state.mode.kind === 'move'
        ? { ...state.start, x: Math.round(p.at.x - state.mode.grab.x), y: Math.round(p.at.y - state.mode.grab.y) }
        : scaleRect(state.start, state.mode.corner, p.at, !p.shift);
    return { state: { ...state, rect } };
  },
  end(state) {
    const { start, rect } = state;
    if (rect.x === start.x && rect.y === start.y && rect.width === start.width && rect.height === start.height) return null;
    return { label: state.mode.kind === 'move' ? 'Move layer' : 'Scale layer', ops: [{ op: 'place', layerId: state.layerId, kind: state.kind, placement: rect }] };
  },
  preview(state) {
    return { kind: 'box', rect: state.rect };
  },
};
