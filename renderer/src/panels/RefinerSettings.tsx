import { refinerCandidates } from '../prompt/model-size.js';
import { useStudio, useUi } from '../state/context.js';

// The SDXL refiner in the prompt panel's advanced settings (docs/engine.md, "base → refiner"):
// shown for SDXL models only; a refiner model (another SDXL model with a 4-channel UNet) and
// the fraction of the steps the base runs before handing over (diffusers' denoising_end).

const DEFAULT_SWITCH = 0.8;

export function RefinerSettings() {
  const studio = useStudio();
  const settings = useUi((s) => s.settings);
  const models = useUi((s) => s.models);
  const base = models.find((m) => m.id === settings.model);
  if (base?.info?.family !== 'sdxl') return null;
  const candidates = refinerCandidates(models, settings.model);
  const refiner = settings.refiner;
  const switchAt = refiner?.switchAt ?? DEFAULT_SWITCH;
  return (
    <details className="sub" open={refiner !== undefined} data-testid="refiner-settings">
      <summary>SDXL refiner</summary>
      <label className="field">
        <span className="label">Refiner</span>
        <select
          data-testid="refiner-picker"
          value={refiner?.model ?? ''}
          onChange={(e) => studio.updateSettings({ refiner: e.target.value ? { model: e.target.value, switchAt } : undefined })}
        >
          <option value="">none</option>
          {/* A recalled refiner no longer in the list still shows, so the panel says what runs. */}
          {refiner && !candidates.some((m) => m.id === refiner.model) && <option value={refiner.model}>{refiner.model}</option>}
          {candidates.map((m) => (
            <option key={m.id} value={m.id} title={m.path}>
              {m.name}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span className="label">Switch at {Math.round(switchAt * 100)}% of the steps</span>
        <input
          type="range"
          data-testid="refiner-switch"
          min={0.05}
          max={0.95}
          step={0.05}
          value={switchAt}
          disabled={!refiner}
          onChange={(e) => refiner && studio.updateSettings({ refiner: { model: refiner.model, switchAt: Math.round(e.target.valueAsNumber * 100) / 100 } })}
        />
      </label>
      {candidates.length === 0 && <p className="hint">Add another SDXL model (e.g. SDXL's refiner) to refine with it.</p>}
      <p className="hint">Used for text-to-image and refine; fill-mask (inpainting) runs without it.</p>
    </details>
  );
}
