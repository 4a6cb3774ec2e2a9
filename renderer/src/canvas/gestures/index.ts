import { frameMove } from './frame.js';
import { maskErase, maskPaint } from './mask.js';
import { pan } from './pan.js';
import { lasso, selectEllipse, selectRect } from './selection.js';
import { ellipse, line, rect, region } from './shape.js';
import { brush, eraser } from './stroke.js';
import { transform } from './transform.js';
import type { Gesture, ToolSpec } from './types.js';

// The tools, in toolbar order. Adding a tool: one gesture module and one row here; the
// toolbar, the shortcut and the canvas pick it up from this table.

const as = <S>(g: Gesture<S>) => g as Gesture<unknown>;

export const TOOLS = {
  select: { label: 'Move the generation frame', icon: '⬚', key: 'V', cursor: 'move', gesture: as(frameMove) },
  transform: { label: 'Move and scale a layer', icon: '⤧', key: 'T', cursor: 'default', gesture: as(transform) },
  pan: { label: 'Pan (or hold Space)', icon: '✥', key: 'H', cursor: 'grab', gesture: as(pan) },
  brush: { label: 'Brush', icon: '✎', key: 'B', cursor: 'crosshair', gesture: as(brush) },
  eraser: { label: 'Eraser', icon: '⌫', key: 'E', cursor: 'crosshair', gesture: as(eraser) },
  line: { label: 'Line', icon: '╱', key: 'L', cursor: 'crosshair', gesture: as(line) },
  rect: { label: 'Rectangle', icon: '▭', key: 'R', cursor: 'crosshair', gesture: as(rect) },
  ellipse: { label: 'Ellipse', icon: '◯', key: 'O', cursor: 'crosshair', gesture: as(ellipse) },
  region: { label: 'Labelled region box', icon: '⊡', key: 'G', cursor: 'crosshair', gesture: as(region) },
  mask: { label: 'Paint mask', icon: '◐', key: 'M', cursor: 'crosshair', gesture: as(maskPaint) },
  'mask-erase': { label: 'Erase mask', icon: '◑', key: 'Shift+M', cursor: 'crosshair', gesture: as(maskErase) },
  'select-rect': { label: 'Rectangle selection → mask', icon: '▢', key: 'S', cursor: 'crosshair', gesture: as(selectRect) },
  'select-ellipse': { label: 'Ellipse selection → mask', icon: '◌', key: 'Shift+S', cursor: 'crosshair', gesture: as(selectEllipse) },
  lasso: { label: 'Lasso selection → mask', icon: '∿', key: 'A', cursor: 'crosshair', gesture: as(lasso) },
} satisfies Record<string, ToolSpec>;

export type ToolName = keyof typeof TOOLS;

export const TOOL_NAMES = Object.keys(TOOLS) as ToolName[];

/** The tool a key press picks ('b' → brush, Shift+M → mask eraser), if any. */
export function toolForKey(key: string, shift: boolean): ToolName | undefined {
  const wanted = shift ? `Shift+${key.toUpperCase()}` : key.toUpperCase();
  return TOOL_NAMES.find((name) => TOOLS[name].key === wanted);
}

/** The pan gesture, which Space-drag and the middle button use whatever the tool. */
export const panGesture = as(pan);

export type { Gesture, GestureContext, MaskArea, Op, Plan, PointerSample, Preview, ToolSpec } from './types.js';
