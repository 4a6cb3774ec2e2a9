import { useState } from 'react';
import { SamplerName } from '../../../app/contract/index.js';
import { LoraChips } from '../prompt/LoraChips.js';
import { PromptField } from '../prompt/PromptField.js';
import { useAssets } from '../prompt/useAssets.js';
import { VaePicker } from '../prompt/VaePicker.js';
import { randomSeed, type SeedPolicy } from '../prompt/seeds.js';
import { useStudio, useUi } from '../state/context.js';
import { type DocumentSession } from '../state/document.js';
import { ModeControl } from './ModeControl.js';
import { settingsForModel } from '../prompt/model-size.js';
import { ModelNative, ModelOptions } from './ModelOptions.js';
import { defaultSettings } from '../state/settings.js';
import { RefinerSettings } from './RefinerSettings.js';
import { SdxlConditioningSettings } from './SdxlConditioning.js';
import { SizePresets } from './SizePresets.js';
import { modelsOf } from '../models/models-state.js';

function NumberField(props: { label: string; testId: string; value: number; min: number; max: number; step?: number; onChange: (v: number) => void }) {
  return (
    <label className="field">
      <span className="label">{props.label}</span>
      <input
        type="number"
        data-testid={props.testId}
        value={props.value}
        min={props.min}
        max={props.max}
        step={props.step ?? 1}
        onChange={(e) => {
          const v = e.target.valueAsNumber;
          if (Number.isFinite(v)) props.onChange(v);
        }}
      />
    </label>
  );
}

/** Prompt, model and sampler settings, presets, and the Generate button. */
export function PromptPanel({ session, onGenerate }: { session: DocumentSession; onGenerate: () => void }) {
  const studio = useStudio();
  const s = useUi((st) => st.settings);
  const models = useUi((st) => st.models);
  const presets = useUi((st) => st.presets);
  const history = useUi((st) => st.promptHistory);
  const [folder, setFolder] = useState('');
  const [presetName, setPresetName] = useState('');
  const set = studio.updateSettings.bind(studio);
  // LoRAs, embeddings and VAEs the service has (chips, autocomplete and the VAE picker).
  const { assets, loaded, refresh } = useAssets();
  const embeddings = assets.embeddings.map((e) => e.name);
  const model = models.find((m) => m.id === s.model);
  const multiple = model?.info?.sizeMultiple ?? 8;

  return (
    <section className="panel prompt-panel" aria-label="Prompt">
      <PromptField label="Prompt" testId="prompt" value={s.prompt} onChange={(prompt) => set({ prompt })} history={history} fromLibrary names={embeddings} />
      <LoraChips testId="prompt-loras" value={s.prompt} onChange={(prompt) => set({ prompt })} assets={assets} loaded={loaded} refresh={refresh} />
      <PromptField label="Negative prompt" testId="negative-prompt" value={s.negativePrompt} onChange={(negativePrompt) => set({ negativePrompt })} history={history} rows={2} names={embeddings} />

      <label className="field">
        <span className="label">Model</span>
        <span className="model-picker-row">
          <select
            data-testid="model-picker"
            value={s.model}
            onChange={(e) => {
              // The frame follows the model family's native size; the model's own defaults (if any) then apply.
              set(settingsForModel(s, models, e.target.value, defaultSettings));
              void modelsOf(studio).choose(e.target.value, s.model);
            }}
          >
            {models.length === 0 && <option value={s.model}>{s.model}</option>}
            <ModelOptions models={models} />
          </select>
          <button type="button" data-testid="open-model-manager" title="Model manager: import, download, rename, delete, defaults" onClick={() => void modelsOf(studio).openManager(s.model)}>
            Manage…
          </button>
        </span>
      </label>
      <ModelNative model={model} />
      <VaePicker value={s.vae} onChange={(vae) => set({ vae })} assets={assets} refresh={refresh} />
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (folder.trim()) void studio.addModel(folder.trim()).then(() => setFolder(''));
        }}
      >
        <input aria-label="Model folder to add" data-testid="model-folder" placeholder="Add a model folder…" value={folder} onChange={(e) => setFolder(e.target.value)} />
        <button type="submit" data-testid="add-model">
          Add
        </button>
      </form>

      <div className="grid2">
        <label className="field">
          <span className="label">Sampler</span>
          <select data-testid="sampler" value={s.sampler} onChange={(e) => set({ sampler: SamplerName.parse(e.target.value) })}>
            {SamplerName.options.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <NumberField label="Steps" testId="steps" value={s.steps} min={1} max={200} onChange={(steps) => set({ steps })} />
        <NumberField label="CFG" testId="cfg" value={s.cfg} min={0} max={50} step={0.5} onChange={(cfg) => set({ cfg })} />
        <NumberField label="Batch" testId="batch" value={s.batch} min={1} max={16} onChange={(batch) => set({ batch })} />
        <NumberField label="Width" testId="width" value={s.width} min={64} max={4096} step={multiple} onChange={(width) => set({ width })} />
        <NumberField label="Height" testId="height" value={s.height} min={64} max={4096} step={multiple} onChange={(height) => set({ height })} />
      </div>
      <SizePresets info={model?.info} />

      <div className="row seed-row">
        <NumberField label="Seed" testId="seed" value={s.seed} min={0} max={Number.MAX_SAFE_INTEGER} onChange={(seed) => set({ seed })} />
        <label className="field">
          <span className="label">Seed mode</span>
          <select data-testid="seed-policy" value={s.seedPolicy} onChange={(e) => set({ seedPolicy: e.target.value as SeedPolicy })}>
            <option value="random">random</option>
            <option value="fixed">fixed</option>
            <option value="increment">increment</option>
          </select>
        </label>
        <button type="button" title="New random seed" aria-label="New random seed" onClick={() => set({ seed: randomSeed() })}>
          ⟳
        </button>
      </div>

      <details className="sub">
        <summary>Refine and inpaint</summary>
        <NumberField label="Mask feather (px)" testId="mask-blur" value={s.maskBlur} min={0} max={64} onChange={(maskBlur) => set({ maskBlur })} />
        <label className="check">
          <input type="checkbox" checked={s.onlyMasked} onChange={(e) => set({ onlyMasked: e.target.checked })} /> Only the masked area
        </label>
        <NumberField label="Padding (px)" testId="mask-padding" value={s.maskPadding} min={0} max={512} onChange={(maskPadding) => set({ maskPadding })} />
      </details>
      <RefinerSettings />
      <SdxlConditioningSettings />

      <details className="sub">
        <summary>Presets</summary>
        <div className="row">
          <input aria-label="Preset name" data-testid="preset-name" placeholder="Preset name" value={presetName} onChange={(e) => setPresetName(e.target.value)} />
          <button type="button" data-testid="save-preset" disabled={!presetName.trim()} onClick={() => studio.savePreset(presetName.trim())}>
            Save
          </button>
        </div>
        <ul className="presets">
          {presets.map((p) => (
            <li key={p.name}>
              <button type="button" onClick={() => studio.applyPreset(p.name)}>
                {p.name}
              </button>
              <button type="button" aria-label={`Delete preset ${p.name}`} onClick={() => studio.deletePreset(p.name)}>
                ×
              </button>
            </li>
          ))}
        </ul>
      </details>

      <ModeControl session={session} />
      <button type="button" className="primary generate" data-testid="generate" onClick={onGenerate} title="Generate (Ctrl+Enter)">
        Generate
      </button>
    </section>
  );
}
