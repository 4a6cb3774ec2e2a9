// Windowing for the history grid: which cells to mount for a scroll position, so 10 000
// entries cost as much as one screenful. Pure math, tested headlessly.

export interface GridWindowInput {
  count: number;
  /** Width of the scroll area in pixels. */
  width: number;
  /** Visible height in pixels. */
  height: number;
  scrollTop: number;
  cellSize: number;
  gap: number;
  /** Extra rows mounted above and below, so fast scrolling never shows holes. */
  overscanRows?: number;
}

export interface GridWindow {
  columns: number;
  rows: number;
  /** Total scroll height in pixels. */
  totalHeight: number;
  /** Indices [first, last) to mount. */
  first: number;
  last: number;
  pitch: number;
}

export function gridWindow(input: GridWindowInput): GridWindow {
  const pitch = input.cellSize + input.gap;
  const columns = Math.max(1, Math.floor((input.width + input.gap) / pitch));
  const rows = Math.ceil(input.count / columns);
  const totalHeight = Math.max(0, rows * pitch - input.gap);
  const overscan = input.overscanRows ?? 2;
  const firstRow = Math.max(0, Math.floor(input.scrollTop / pitch) - overscan);
  const lastRow = Math.min(rows, Math.ceil((input.scrollTop + input.height) / pitch) + overscan);
  return { columns, rows, totalHeight, first: Math.min(input.count, firstRow * columns), last: Math.min(input.count, lastRow * columns), pitch };
}

/** Pixel position of cell `index`. */
export function cellPosition(index: number, columns: number, pitch: number): { left: number; top: number } {
  return { left: (index % columns) * pitch, top: Math.floor(index / columns) * pitch };
}
