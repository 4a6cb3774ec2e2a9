import { useEffect, useState } from 'react';
import { type ManagedModel, type ModelDefaults, SamplerName } from '../../../app/contract/index.js';
import { useStudio } from '../state/context.js';
import { Thumb, familyLabel, sourceLabel } from './labels.js';
import { formatBytes, modelsOf } from './models-state.js';

/** Text fields for the defaults form: empty means "not set" (the settings keep theirs). */
type DefaultsForm = Record<'width' | 'height' | 'sampler' | 'steps' | 'cfg' | 'vae', string>;

function formOf(d: ModelDefaults): DefaultsForm {
  const s = (v: string | number | undefined) => (v === undefined ? '' : String(v));
  return { width: s(d.width), height: s(d.height), sampler: s(d.sampler), steps: s(d.steps), cfg: s(d.cfg), vae: s(d.vae) };
}

function defaultsOf(form: DefaultsForm): ModelDefaults {
  const n = (v: string) => (v.trim() === '' ? undefined : Number(v));
  const out: ModelDefaults = {};
  const width = n(form.width);
  const height = n(form.height);
  const steps = n(form.steps);
  const cfg = n(form.cfg);
  if (width !== undefined) out.width = width;
  if (height !== undefined) out.height = height;
  if (steps !== undefined) out.steps = steps;
  if (cfg !== undefined) out.cfg = cfg;
  if (form.sampler) out.sampler = SamplerName.parse(form.sampler);
  if (form.vae.trim()) out.vae = form.vae.trim();
  return out;
}

function sameDefaults(a: ModelDefaults, b: ModelDefaults): boolean {
  const keys = ['width', 'height', 'sampler', 'steps', 'cfg', 'vae'] as const;
  return keys.every((k) => a[k] === b[k]);
}

/** One model: what it is, where it came from, its defaults; use, rename, delete. */
export function ModelDetail({ model, inUse }: { model: ManagedModel; inUse: boolean }) {
  const studio = useStudio();
  const models = modelsOf(studio);
  const [name, setName] = useState(model.name);
  const [form, setForm] = useState<DefaultsForm>(() => formOf(model.defaults));
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [vaes, setVaes] = useState<string[]>([]);
  useEffect(() => {
    // The VAEs in ATELIER_HOME/vae, offered by name; a path typed in works too.
    studio.api.call('assets.list', {}).then(
      (assets) => setVaes(assets.vaes.map((v) => v.name)),
      () => setVaes([]), // no suggestions then; the field still takes a name or a path
    );
  }, [studio]);
  const info = model.info;
  const multiple = info?.sizeMultiple ?? 8;
  const dirtyDefaults = sameDefaults(defaultsOf(form), model.defaults) === false;
  const field = (key: keyof DefaultsForm) => ({ value: form[key], onChange: (e: { target: { value: string } }) => setForm({ ...form, [key]: e.target.value }) });
  const run = async (action: () => Promise<unknown>) => {
    setBusy(true);
    await action();
    setBusy(false);
  };

  return (
    <article className="model-detail" aria-label={`Model ${model.name}`} data-testid="model-detail" data-model={model.id}>
      <div className="model-detail-head">
        <Thumb model={model} size="large" />
        <div className="model-detail-title">
          {model.builtIn ? (
            <h3 data-testid="model-detail-name">{model.name}</h3>
          ) : (
            <form
              className="row"
              onSubmit={(e) => {
                e.preventDefault();
                if (name.trim() && name.trim() !== model.name) void run(() => models.rename(model.id, name.trim()));
              }}
            >
              <input aria-label="Model name" className="model-name-input" data-testid="model-rename-input" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} />
              <button type="submit" data-testid="model-rename" disabled={busy || !name.trim() || name.trim() === model.name}>
                Rename
              </button>
            </form>
          )}
          <p className="muted">
            {familyLabel(model.family)} · {model.variant}
          </p>
          <div className="row">
            <button
              type="button"
              className="primary"
              data-testid="model-use"
              disabled={!model.valid}
              onClick={() => {
                void models.choose(model.id).then(() => models.close());
              }}
            >
              {inUse ? 'Use with its defaults' : 'Use this model'}
            </button>
          </div>
        </div>
      </div>
      {!model.valid && (
        <p className="models-job-error" data-testid="model-error">
          {model.error}
        </p>
      )}

      <table className="params model-facts">
        <tbody>
          <tr>
            <th>Size on disk</th>
            <td data-testid="model-size">{formatBytes(model.bytes)}</td>
          </tr>
          <tr>
            <th>{model.hashOf === 'file' ? 'SHA-256 (file)' : 'Hash (folder)'}</th>
            <td className="mono" data-testid="model-sha256">
              {model.sha256 ?? '—'}
            </td>
          </tr>
          {model.autov2 && (
            <tr>
              <th title="A1111's short hash (AutoV2), as Civitai shows it">Short hash</th>
              <td className="mono" data-testid="model-autov2">
                {model.autov2}
              </td>
            </tr>
          )}
          <tr>
            <th>Source</th>
            <td data-testid="model-source">
              {sourceLabel(model)}
              {model.source.path && <span className="muted mono"> {model.source.path}</span>}
              {model.source.url && <span className="muted mono"> {model.source.url}</span>}
            </td>
          </tr>
          <tr>
            <th>Folder</th>
            <td className="muted mono">{model.path}</td>
          </tr>
          {info && (
            <tr>
              <th>Native size</th>
              <td>
                {info.defaultWidth} × {info.defaultHeight} (multiples of {info.sizeMultiple}){info.acceptsControlnet ? ' · ControlNet ready' : ''}
              </td>
            </tr>
          )}
          {model.added && (
            <tr>
              <th>Added</th>
              <td>{new Date(model.added).toLocaleString()}</td>
            </tr>
          )}
        </tbody>
      </table>

      <form
        className="model-defaults"
        aria-label="Defaults"
        onSubmit={(e) => {
          e.preventDefault();
          void run(() => models.saveDefaults(model.id, defaultsOf(form)));
        }}
      >
        <h4>Defaults when picked</h4>
        <div className="grid3">
          <label className="field">
            <span className="label">Width</span>
            <input type="number" data-testid="model-default-width" min={64} max={4096} step={multiple} placeholder={String(info?.defaultWidth ?? '')} {...field('width')} />
          </label>
          <label className="field">
            <span className="label">Height</span>
            <input type="number" data-testid="model-default-height" min={64} max={4096} step={multiple} placeholder={String(info?.defaultHeight ?? '')} {...field('height')} />
          </label>
          <label className="field">
            <span className="label">Sampler</span>
            <select data-testid="model-default-sampler" {...field('sampler')}>
              <option value="">—</option>
              {SamplerName.options.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span className="label">Steps</span>
            <input type="number" data-testid="model-default-steps" min={1} max={200} {...field('steps')} />
          </label>
          <label className="field">
            <span className="label">CFG</span>
            <input type="number" data-testid="model-default-cfg" min={0} max={50} step={0.5} {...field('cfg')} />
          </label>
          <label className="field">
            <span className="label">VAE</span>
            <input data-testid="model-default-vae" list="model-vae-names" placeholder="the model's own" {...field('vae')} />
            <datalist id="model-vae-names">
              {vaes.map((v) => (
                <option key={v} value={v} />
              ))}
            </datalist>
          </label>
        </div>
        <div className="row">
          <span className="hint">Empty fields leave the prompt panel's value as it is.</span>
          <span className="spacer" />
          <button type="submit" data-testid="model-defaults-save" disabled={busy || !dirtyDefaults}>
            Save defaults
          </button>
        </div>
      </form>

      <div className="model-danger">
        {model.builtIn ? (
          <span className="hint">The bundled starter model cannot be deleted.</span>
        ) : confirming ? (
          <div className="row confirm" role="alertdialog" aria-label="Confirm delete" data-testid="model-delete-confirm">
            <span>{model.ownsFiles ? `Delete “${model.name}” and its folder (${formatBytes(model.bytes)})?` : `Take “${model.name}” off the list? Its folder stays where it is.`}</span>
            <span className="spacer" />
            <button type="button" data-testid="model-delete-cancel" onClick={() => setConfirming(false)}>
              Cancel
            </button>
            <button type="button" className="danger" data-testid="model-delete-yes" disabled={busy} onClick={() => void run(() => models.remove(model.id))}>
              {model.ownsFiles ? 'Delete' : 'Remove'}
            </button>
          </div>
        ) : (
          <button type="button" className="danger-outline" data-testid="model-delete" onClick={() => setConfirming(true)}>
            {model.ownsFiles ? 'Delete…' : 'Remove from the list…'}
          </button>
        )}
      </div>
    </article>
  );
}
