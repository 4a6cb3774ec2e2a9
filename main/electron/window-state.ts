import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { MIN_WINDOW_SIZE, type WindowBounds } from './window-options.js';

// The window's size and place, remembered between runs in ATELIER_HOME/window-state.json.
// A saved place is reused only while it is still on a screen the artist has (a monitor can
// be unplugged between runs); otherwise the window opens at the default size, centred.

export const WindowState = z.object({
  x: z.number().int(),
  y: z.number().int(),
  width: z.number().int().min(1),
  height: z.number().int().min(1),
  maximized: z.boolean(),
  fullScreen: z.boolean(),
});
export type WindowState = z.infer<typeof WindowState>;

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export const DEFAULT_WINDOW_SIZE = { width: 1440, height: 900 } as const;

/** How much of the window's title bar must be on a screen for the saved place to count. */
const MIN_VISIBLE = { width: 160, height: 40 } as const;

export function windowStateFile(home: string): string {
  return path.join(home, 'window-state.json');
}

/** Reads the saved state; undefined when there is none or it does not parse (then defaults apply). */
export function loadWindowState(file: string): WindowState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = WindowState.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Written atomically (temp file + rename), so a crash mid-write leaves the old state. */
export function saveWindowState(file: string, state: WindowState): void {
  const valid = WindowState.parse(state);
  const temp = `${file}.${process.pid}.tmp`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(temp, JSON.stringify(valid, null, 2));
  fs.renameSync(temp, file);
}

function overlap(a: Rect, b: Rect): { width: number; height: number } {
  return {
    width: Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x)),
    height: Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y)),
  };
}

/**
 * The bounds to open with: the saved ones when the top strip of the window (where it is
 * grabbed) lies on one of `workAreas` and fits the largest; else the default size, which
 * Electron centres when x and y are left out.
 */
export function boundsToRestore(saved: WindowState | undefined, workAreas: readonly Rect[]): WindowBounds {
  const fallback: WindowBounds = { ...DEFAULT_WINDOW_SIZE };
  const largest = workAreas.reduce((best, a) => (a.width * a.height > best.width * best.height ? a : best), { x: 0, y: 0, width: 0, height: 0 });
  if (largest.width > 0) {
    fallback.width = Math.max(MIN_WINDOW_SIZE.width, Math.min(DEFAULT_WINDOW_SIZE.width, largest.width));
    fallback.height = Math.max(MIN_WINDOW_SIZE.height, Math.min(DEFAULT_WINDOW_SIZE.height, largest.height));
  }
  if (!saved) return fallback;
  const titleBar: Rect = { x: saved.x, y: saved.y, width: saved.width, height: MIN_VISIBLE.height };
  const onScreen = workAreas.some((area) => {
    const o = overlap(titleBar, area);
    return o.width >= Math.min(MIN_VISIBLE.width, saved.width) && o.height >= MIN_VISIBLE.height;
  });
  if (!onScreen) return fallback;
  return {
    x: saved.x,
    y: saved.y,
    width: Math.max(MIN_WINDOW_SIZE.width, saved.width),
    height: Math.max(MIN_WINDOW_SIZE.height, saved.height),
  };
}
