import type { ModelInfo } from '../../../app/contract/index.js';
import { aspectName, presetForAspect, sizePresets } from '../prompt/model-size.js';
import { useStudio, useUi } from '../state/context.js';

// The size-preset control under Width/Height: the model's presets (ModelInfo.sizePresets, native
// size first), and "Native" — the preset nearest the frame's own aspect, so an artist who drew
// a wide frame on an SD 1.x model gets SDXL's wide bucket after switching, not a square.

export function SizePresets({ info }: { info: ModelInfo | undefined }) {
  const studio = useStudio();
  const width = useUi((s) => s.settings.width);
  const height = useUi((s) => s.settings.height);
  const presets = sizePresets(info);
  if (presets.length === 0) return null;
  const key = (s: { width: number; height: number }) => `${s.width}x${s.height}`;
  const current = presets.find((p) => p.width === width && p.height === height);
  const nearest = presetForAspect(presets, { width, height });
  return (
    <div className="row size-presets">
      <label className="field">
        <span className="label">Size preset</span>
        <select
          data-testid="size-preset"
          value={current ? key(current) : ''}
          onChange={(e) => {
            const p = presets.find((s) => key(s) === e.target.value);
            if (p) studio.updateSettings({ width: p.width, height: p.height });
          }}
        >
          {!current && <option value="">custom {width}×{height}</option>}
          {presets.map((p, i) => (
            <option key={key(p)} value={key(p)}>
              {p.width}×{p.height} · {aspectName(p)}
              {i === 0 ? ' (native)' : ''}
            </option>
          ))}
        </select>
      </label>
      <button
        type="button"
        data-testid="size-native"
        title="The model's trained size nearest this frame's aspect"
        disabled={!nearest || (nearest.width === width && nearest.height === height)}
        onClick={() => nearest && studio.updateSettings({ width: nearest.width, height: nearest.height })}
      >
        Native
      </button>
    </div>
  );
}
