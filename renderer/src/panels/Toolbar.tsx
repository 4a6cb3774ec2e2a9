import { TOOLS, TOOL_NAMES } from '../canvas/gestures/index.js';
import { useStudio, useUi } from '../state/context.js';

/** Tools down the left edge, their options along the top of the canvas. */
export function Toolbar() {
  const studio = useStudio();
  const tool = useUi((s) => s.tool);
  return (
    <nav className="toolbar" aria-label="Tools">
      {TOOL_NAMES.map((name) => {
        const t: { label: string; icon: string; key?: string } = TOOLS[name];
        return (
          <button
            key={name}
            type="button"
            className={name === tool ? 'tool active' : 'tool'}
            aria-pressed={name === tool}
            aria-label={t.label}
            title={t.key ? `${t.label} (${t.key})` : t.label}
            data-testid={`tool-${name}`}
            onClick={() => studio.store.set({ tool: name })}
          >
            {t.icon}
          </button>
        );
      })}
    </nav>
  );
}

export function ToolOptions({ onFit, onZoom }: { onFit: () => void; onZoom: (direction: 1 | -1) => void }) {
  const studio = useStudio();
  const tool = useUi((s) => s.tool);
  const color = useUi((s) => s.color);
  const width = useUi((s) => s.strokeWidth);
  const feather = useUi((s) => s.maskFeather);
  const label = useUi((s) => s.regionLabel);
  const scale = useUi((s) => s.viewport.scale);
  const masking = tool === 'mask' || tool === 'mask-erase' || tool === 'select-rect' || tool === 'select-ellipse' || tool === 'lasso';
  return (
    <div className="tool-options" role="toolbar" aria-label="Tool options">
      <label className="inline">
        <span className="label">Colour</span>
        <input type="color" data-testid="colour" value={color} onChange={(e) => studio.store.set({ color: e.target.value })} />
      </label>
      <label className="inline">
        <span className="label">Width {width}px</span>
        <input type="range" data-testid="stroke-width" min={1} max={200} value={width} onChange={(e) => studio.store.set({ strokeWidth: e.target.valueAsNumber })} />
      </label>
      {masking && (
        <label className="inline">
          <span className="label">Feather {feather}px</span>
          <input type="range" data-testid="mask-feather" min={0} max={32} value={feather} onChange={(e) => studio.store.set({ maskFeather: e.target.valueAsNumber })} />
        </label>
      )}
      {tool === 'region' && (
        <label className="inline">
          <span className="label">Region label</span>
          <input data-testid="region-label" placeholder="e.g. red barn" value={label} onChange={(e) => studio.store.set({ regionLabel: e.target.value })} />
        </label>
      )}
      <span className="spacer" />
      <button type="button" aria-label="Zoom out" data-testid="zoom-out" onClick={() => onZoom(-1)}>
        −
      </button>
      <span className="zoom" data-testid="zoom-level">
        {Math.round(scale * 100)}%
      </span>
      <button type="button" aria-label="Zoom in" data-testid="zoom-in" onClick={() => onZoom(1)}>
        +
      </button>
      <button type="button" data-testid="zoom-fit" onClick={onFit}>
        Fit
      </button>
    </div>
  );
}
