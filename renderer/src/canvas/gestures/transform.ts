import { type Layer, type Placement, type ProjectDocument, centre, containsPoint, dragRotation, scaleTurned } from '../../../../app/projects/document/index.js';
import type { Point, Rect } from '../viewport.js';
import { refusal } from './targets.js';
import type { Gesture, GestureContext, Plan } from './types.js';

// The transform tool (T): move a picture layer by dragging it, scale it by a corner handle
// (the opposite corner stays; the aspect ratio is kept unless Shift is held), rotate it by the
// handle above it (Shift snaps to 15°), flip it by the ⇋ / ⇵ buttons. The layer's placement
// changes once, on pointer up: one undo step per drag or press (docs/canvas.md). Masks move
// and scale only: a mask is the inpainting area, drawn on the canvas's own grid.

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

function inside(l: Placed, p: Point): boolean {
  return containsPoint(l.kind === 'mask' ? { x: l.x, y: l.y, width: l.width, height: l.height } : l, p);
}

/** The layer's placement as the tool changes it. */
function placementOf(l: Placed): Placement {
  const base = { x: l.x, y: l.y, width: l.width, height: l.height };
  if (l.kind === 'mask') return base;
  // Only the fields the layer has: an unturned layer's placement stays x, y, width, height.
  return { ...base, ...(l.rotation !== undefined ? { rotation: l.rotation } : {}), ...(l.flipX !== undefined ? { flipX: l.flipX } : {}), ...(l.flipY !== undefined ? { flipY: l.flipY } : {}) };
}

/** How far above the layer's top edge the rotate handle sits, in screen pixels. */
export const ROTATE_HANDLE_OFFSET = 28;

/** The layer a press picks: the selected placed layer where it is pressed, else the topmost visible picture under the pointer. */
export function layerAt(doc: ProjectDocument, selection: readonly string[], p: Point): Placed | undefined {
  const selected = doc.layers.find((l) => l.id === selection[0]);
  if (isPlaced(selected) && inside(selected, p)) return selected;
  return [...doc.layers].reverse().find((l): l is Placed => isPlaced(l) && l.kind !== 'mask' && l.visible && inside(l, p));
}

type Mode = { kind: 'move'; grab: Point } | { kind: 'scale'; corner: Corner } | { kind: 'rotate'; press: Point; snap: boolean } | { kind: 'flip'; axis: 'x' | 'y' };

interface TransformState {
  layerId: string;
  kind: Placed['kind'];
  mode: Mode;
  start: Placement;
  rect: Placement;
}

type Handle = Corner | 'rotate' | 'flip-x' | 'flip-y';

function handleOf(target: string): Handle | undefined {
  const name = /^transform-handle-([\w-]+)$/.exec(target)?.[1];
  return CORNERS.find((c) => c === name) ?? (name === 'rotate' || name === 'flip-x' || name === 'flip-y' ? name : undefined);
}

function modeFor(handle: Handle | undefined, p: Point, layer: Placed): Mode {
  if (handle === 'rotate') return { kind: 'rotate', press: p, snap: false };
  if (handle === 'flip-x' || handle === 'flip-y') return { kind: 'flip', axis: handle === 'flip-x' ? 'x' : 'y' };
  if (handle) return { kind: 'scale', corner: handle };
  return { kind: 'move', grab: { x: p.x - layer.x, y: p.y - layer.y } };
}

function samePlacement(a: Placement, b: Placement): boolean {
  return a.x === b.x && a.y === b.y && a.width === b.width && a.height === b.height && (a.rotation ?? 0) === (b.rotation ?? 0) && !!a.flipX === !!b.flipX && !!a.flipY === !!b.flipY;
}

/** The flip shortcuts (Shift+H left↔right, Shift+V top↔bottom): the same step as the ⇋ / ⇵ buttons, on the selected layer. */
export function flipPlan(doc: ProjectDocument, selection: readonly string[], axis: 'x' | 'y'): Plan | { hint: string } {
  const layer = doc.layers.find((l) => l.id === selection[0]);
  if (!isPlaced(layer) || layer.kind === 'mask') return { hint: 'Select a picture, paint or candidate layer to flip it' };
  const why = refusal(layer);
  if (why) return { hint: why };
  const start = placementOf(layer);
  const placement = { ...start, ...(axis === 'x' ? { flipX: !start.flipX } : { flipY: !start.flipY }) };
  return { label: 'Flip layer', ops: [{ op: 'place', layerId: layer.id, kind: layer.kind, placement }] };
}

const LABELS: Record<Mode['kind'], string> = { move: 'Move layer', scale: 'Scale layer', rotate: 'Rotate layer', flip: 'Flip layer' };

export const transform: Gesture<TransformState> = {
  begin(p, ctx: GestureContext) {
    if (p.button !== 0) return { state: null };
    const handle = handleOf(p.target);
    const selected = ctx.doc.layers.find((l) => l.id === ctx.selection[0]);
    const layer = handle && isPlaced(selected) ? selected : layerAt(ctx.doc, ctx.selection, p.at);
    if (!layer) return { state: null, ops: [{ op: 'hint', message: 'Press on a picture layer to move it, or on a handle to scale, rotate or flip it' }] };
    const why = refusal(layer);
    if (why) return { state: null, ops: [{ op: 'hint', message: why }] };
    const mode = modeFor(handle, p.at, layer);
    if (layer.kind === 'mask' && (mode.kind === 'rotate' || mode.kind === 'flip')) return { state: null, ops: [{ op: 'hint', message: 'A mask moves and scales only: paint or erase it to change its shape' }] };
    const start = placementOf(layer);
    const rect = mode.kind === 'flip' ? { ...start, ...(mode.axis === 'x' ? { flipX: !start.flipX } : { flipY: !start.flipY }) } : start;
    const ops = layer.id === ctx.selection[0] ? [] : [{ op: 'select' as const, layerId: layer.id }];
    return { state: { layerId: layer.id, kind: layer.kind, mode, start, rect }, ops };
  },
  move(state, p) {
    const { mode, start } = state;
    let rect: Placement;
    if (mode.kind === 'move') rect = { ...start, x: Math.round(p.at.x - mode.grab.x), y: Math.round(p.at.y - mode.grab.y) };
    else if (mode.kind === 'scale') rect = { ...start, ...scaleTurned(start, p.at, (local) => scaleRect(start, mode.corner, local, !p.shift)) };
    else if (mode.kind === 'rotate') rect = { ...start, rotation: dragRotation(start.rotation ?? 0, centre(start), mode.press, p.at, p.shift) };
    else return { state };
    return { state: { ...state, rect } };
  },
  end(state) {
    if (samePlacement(state.start, state.rect)) return null;
    return { label: LABELS[state.mode.kind], ops: [{ op: 'place', layerId: state.layerId, kind: state.kind, placement: state.rect }] };
  },
  preview(state) {
    return { kind: 'box', rect: state.rect };
  },
};
