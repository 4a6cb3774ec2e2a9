// Rotated and flipped picture layers (docs/canvas.md, "Move, scale, rotate, flip"): the layer's
// rectangle (x, y, width, height) is where the image lies unturned; the image is mirrored in
// it first, then rotated `rotation` degrees clockwise (y points down) about its centre. The
// canvas, the request images and the exports all draw it so; this is the shared math.

export interface Pt {
  x: number;
  y: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Orientation {
  rotation?: number;
  flipX?: boolean;
  flipY?: boolean;
}

export type Placement = Box & Orientation;

/** True when the layer is turned at all (an unturned one keeps its fast, exact paths). */
export function isTurned(p: Orientation): boolean {
  return (p.rotation ?? 0) % 360 !== 0 || p.flipX === true || p.flipY === true;
}

/** An angle in degrees brought into (-180, 180], rounded to 1/100°. */
export function normalizeAngle(degrees: number): number {
  let a = degrees % 360;
  if (a > 180) a -= 360;
  if (a <= -180) a += 360;
  return Math.round(a * 100) / 100 || 0;
}

export function centre(b: Box): Pt {
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
}

/** `p` turned `degrees` clockwise (screen coordinates) about `about`. */
export function rotatePoint(p: Pt, about: Pt, degrees: number): Pt {
  const r = (degrees * Math.PI) / 180;
  const cos = Math.cos(r);
  const sin = Math.sin(r);
  const dx = p.x - about.x;
  const dy = p.y - about.y;
  return { x: about.x + dx * cos - dy * sin, y: about.y + dx * sin + dy * cos };
}

/** A canvas point → the same point on the unturned rectangle (undoing rotation, then flip). */
export function toLocal(p: Pt, placement: Placement): Pt {
  const c = centre(placement);
  const q = rotatePoint(p, c, -(placement.rotation ?? 0));
  return { x: placement.flipX ? 2 * c.x - q.x : q.x, y: placement.flipY ? 2 * c.y - q.y : q.y };
}

/** A point of the unturned rectangle → where it shows on the canvas. */
export function toCanvas(p: Pt, placement: Placement): Pt {
  const c = centre(placement);
  const q = { x: placement.flipX ? 2 * c.x - p.x : p.x, y: placement.flipY ? 2 * c.y - p.y : p.y };
  return rotatePoint(q, c, placement.rotation ?? 0);
}

/** Whether a canvas point lies on the turned layer. */
export function containsPoint(placement: Placement, p: Pt): boolean {
  const q = rotatePoint(p, centre(placement), -(placement.rotation ?? 0));
  return q.x >= placement.x && q.x <= placement.x + placement.width && q.y >= placement.y && q.y <= placement.y + placement.height;
}

/** The rectangle's four corners on the canvas, clockwise from the unturned top-left (nw, ne, se, sw). */
export function turnedCorners(placement: Placement): Pt[] {
  const c = centre(placement);
  const { x, y, width, height } = placement;
  const a = placement.rotation ?? 0;
  return [
    { x, y },
    { x: x + width, y },
    { x: x + width, y: y + height },
    { x, y: y + height },
  ].map((p) => rotatePoint(p, c, a));
}

/** The axis-aligned box the turned layer covers on the canvas. */
export function turnedBounds(placement: Placement): Box {
  if ((placement.rotation ?? 0) % 360 === 0) return { x: placement.x, y: placement.y, width: placement.width, height: placement.height };
  const pts = turnedCorners(placement);
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  const x = Math.min(...xs);
  const y = Math.min(...ys);
  return { x, y, width: Math.max(...xs) - x, height: Math.max(...ys) - y };
}

/**
 * The 2D affine matrix [a, b, c, d, e, f] (canvas 2D / DOMMatrix order) that draws the
 * unturned rectangle where the turned layer shows: translate to the centre, rotate, mirror,
 * translate back.
 */
export function placementMatrix(placement: Placement): [number, number, number, number, number, number] {
  const c = centre(placement);
  const r = ((placement.rotation ?? 0) * Math.PI) / 180;
  const cos = Math.cos(r);
  const sin = Math.sin(r);
  const fx = placement.flipX ? -1 : 1;
  const fy = placement.flipY ? -1 : 1;
  const a = cos * fx;
  const b = sin * fx;
  const cc = -sin * fy;
  const d = cos * fy;
  return [a, b, cc, d, c.x - a * c.x - cc * c.y, c.y - b * c.x - d * c.y];
}

/**
 * The rotation while the rotate handle is dragged: the start angle plus how far the pointer
 * has turned about the centre since the press; `snap` rounds to steps of 15°.
 */
export function dragRotation(startRotation: number, centrePt: Pt, press: Pt, pointer: Pt, snap: boolean): number {
  const angle = (p: Pt) => (Math.atan2(p.y - centrePt.y, p.x - centrePt.x) * 180) / Math.PI;
  const turned = startRotation + angle(pointer) - angle(press);
  return normalizeAngle(snap ? Math.round(turned / 15) * 15 : turned);
}

/**
 * Scaling a rotated layer by a corner: `scaleLocal` scales the unturned rectangle with the
 * pointer brought into its frame; the result's rectangle is then shifted so the opposite
 * corner stays where it shows on the canvas.
 */
export function scaleTurned(start: Placement, pointer: Pt, scaleLocal: (local: Pt) => Box): Box {
  const rotation = start.rotation ?? 0;
  const c0 = centre(start);
  const local = rotatePoint(pointer, c0, -rotation);
  const next = scaleLocal(local);
  if (rotation % 360 === 0) return next;
  const c1 = rotatePoint(centre(next), c0, rotation);
  const round = (v: number) => Math.round(v * 100) / 100;
  return { x: round(c1.x - next.width / 2), y: round(c1.y - next.height / 2), width: next.width, height: next.height };
}
