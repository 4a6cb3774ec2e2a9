import type { ModelEntry } from '../../../app/contract/index.js';
import { familyLabel, modelGroups } from '../prompt/model-size.js';

// The model picker's options grouped by family and native size ("SDXL · 1024×1024"), and the
// line under it naming the chosen model's family and native size (docs/engine.md, "sizes").

export function ModelOptions({ models }: { models: ModelEntry[] }) {
  return (
    <>
      {modelGroups(models).map((g) => (
        <optgroup key={g.label} label={g.label} data-testid="model-group">
          {g.models.map((m) => (
            <option key={m.id} value={m.id} disabled={!m.valid} title={m.error ?? m.path}>
              {m.name}
              {m.valid ? '' : ' — unusable'}
            </option>
          ))}
        </optgroup>
      ))}
    </>
  );
}

export function ModelNative({ model }: { model: ModelEntry | undefined }) {
  if (!model?.info) return null;
  return (
    <span className="hint" data-testid="model-native">
      {familyLabel(model.info)} native
    </span>
  );
}
