/**
 * Pen pressure → stroke width, shared by everything that draws a stroke (the canvas, the
 * control maps sent to the engine, exports), so a sketch looks the same everywhere.
 *
 * A stroke's `width` is drawn at the neutral pressure 0.5: the Pointer Events spec
 * (https://www.w3.org/TR/pointerevents3/#dom-pointerevent-pressure) has hardware without
 * pressure report 0.5 while a button is down, so mouse strokes keep the width the artist
 * picked, and a pen draws thinner when pressed lightly and up to twice as wide at full press.
 */
export const NEUTRAL_PRESSURE = 0.5;

/** Width of a stroke of nominal `width` at `pressure` (clamped to 0…1, as the spec's range). */
export function pressureWidth(width: number, pressure: number): number {
  const p = Number.isFinite(pressure) ? Math.min(1, Math.max(0, pressure)) : NEUTRAL_PRESSURE;
  return (width * p) / NEUTRAL_PRESSURE;
}

/** The pressure shared by all points of a stroke (x, y, pressure triples), or null when it varies. */
export function constantPressure(points: readonly number[]): number | null {
  const first = points[2] ?? NEUTRAL_PRESSURE;
  for (let i = 5; i < points.length; i += 3) if (points[i] !== first) return null;
  return first;
}

/** A run of consecutive segments of a stroke drawn at one width. */
export interface WidthRun {
  width: number;
  /** Flat x, y pairs of the run's polyline (at least two points). */
  path: number[];
}

/**
 * A varying-pressure stroke as polylines of one width each: every segment takes the mean
 * pressure of its ends (the export draws segments the same way), and neighbours whose widths
 * round to the same `step` pixels share one polyline, so a pen stroke costs a few stroke()
 * calls rather than one per segment and its joins stay round.
 */
export function widthRuns(width: number, points: readonly number[], step = 0.5): WidthRun[] {
  const runs: WidthRun[] = [];
  let current: WidthRun | null = null;
  for (let i = 0; i + 5 < points.length; i += 3) {
    const mean = ((points[i + 2] ?? NEUTRAL_PRESSURE) + (points[i + 5] ?? NEUTRAL_PRESSURE)) / 2;
    const w = Math.max(step, Math.round(pressureWidth(width, mean) / step) * step);
    if (current && current.width === w) {
      current.path.push(points[i + 3] ?? 0, points[i + 4] ?? 0);
    } else {
      current = { width: w, path: [points[i] ?? 0, points[i + 1] ?? 0, points[i + 3] ?? 0, points[i + 4] ?? 0] };
      runs.push(current);
    }
  }
  return runs;
}
