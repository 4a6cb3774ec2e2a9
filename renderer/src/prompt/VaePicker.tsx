import type { AssetList } from '../../../app/contract/index.js';

interface Props {
  /** GenerationSettings.vae: absent for the model's own VAE. */
  value: string | undefined;
  onChange: (vae: string | undefined) => void;
  assets: AssetList;
  refresh: () => void;
}

/**
 * The VAE for the next generations (docs/models.md, "VAE swap"): the model's own, or one from
 * ATELIER_HOME/vae by name. A value that is neither (a path from a recalled run or a model's
 * default) is shown as it is, so choosing nothing never changes it silently.
 */
export function VaePicker({ value, onChange, assets, refresh }: Props) {
  const listed = value === undefined || assets.vaes.some((v) => v.name === value);
  return (
    <label className="field">
      <span className="label">VAE</span>
      <select data-testid="vae-picker" value={value ?? ''} onFocus={refresh} onChange={(e) => onChange(e.target.value || undefined)} title={assets.folders.vaes ? `VAEs from ${assets.folders.vaes}` : undefined}>
        <option value="">Model default</option>
        {assets.vaes.map((v) => (
          <option key={v.path} value={v.name}>
            {v.name}
          </option>
        ))}
        {!listed && <option value={value}>{value.split(/[\\/]/).pop()}</option>}
      </select>
    </label>
  );
}
