import { useEffect, useState } from 'react';
import { ApiError, type ManagedModel, type ModelJob } from '../../../app/contract/index.js';
import { errorMessage } from '../state/studio.js';
import { isWebDoor } from '../projects/web-files.js';
import { type RunningUpload, uploadCheckpoint } from './upload.js';
import { useStudio, useUi } from '../state/context.js';
import { ModelDetail } from './ModelDetail.js';
import { Thumb, familyLabel, sourceLabel } from './labels.js';
import { formatBytes, modelsOf, useModels } from './models-state.js';

// The model manager (docs/models.md, "The model manager"): every model with its family,
// variant, size, hash and source; import a checkpoint or diffusers folder by its path on the
// studio's machine, download from the Hugging Face Hub by repo id or URL, both with progress;
// rename, delete, per-model defaults. Opened from the prompt panel's model picker or the top bar.

/** The overlay; always mounted (it keeps the model events followed), drawn while open. */
export function ModelManager() {
  const studio = useStudio();
  const models = modelsOf(studio);
  const open = useModels(models, (s) => s.open);
  const catalog = useModels(models, (s) => s.catalog);
  const loaded = useModels(models, (s) => s.loaded);
  const selectedId = useModels(models, (s) => s.selected);
  const current = useUi((s) => s.settings.model);
  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') models.close();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [open, models]);
  if (!open) return null;
  const selected = catalog.find((m) => m.id === selectedId) ?? catalog.find((m) => m.id === current) ?? catalog[0];
  return (
    <div className="modal-backdrop models-backdrop" onMouseDown={(e) => e.target === e.currentTarget && models.close()}>
      <section className="models-manager" role="dialog" aria-label="Model manager" data-testid="model-manager">
        <header className="models-head">
          <h2>Models</h2>
          <span className="muted">{loaded ? `${catalog.length} model${catalog.length === 1 ? '' : 's'}` : 'listing…'}</span>
          <span className="spacer" />
          <button type="button" aria-label="Close the model manager" data-testid="models-close" onClick={() => models.close()}>
            ×
          </button>
        </header>
        <div className="models-body">
          <div className="models-left">
            <ul className="models-list" aria-label="Models" data-testid="models-list">
              {catalog.map((m) => (
                <ModelRow key={m.id} model={m} selected={m.id === selected?.id} inUse={m.id === current} onSelect={() => models.select(m.id)} />
              ))}
            </ul>
            <AddModel />
            <JobList />
          </div>
          {selected ? <ModelDetail key={selected.id} model={selected} inUse={selected.id === current} /> : <p className="muted models-empty">No models yet: import one below.</p>}
        </div>
      </section>
    </div>
  );
}

function ModelRow({ model, selected, inUse, onSelect }: { model: ManagedModel; selected: boolean; inUse: boolean; onSelect: () => void }) {
  return (
    <li>
      <button type="button" className={selected ? 'model-row selected' : 'model-row'} aria-pressed={selected} data-testid="model-row" data-model={model.id} data-name={model.name} onClick={onSelect}>
        <Thumb model={model} size="small" />
        <span className="model-row-text">
          <span className="model-row-name">
            {model.name}
            {inUse && <span className="badge accent">in use</span>}
            {!model.valid && <span className="badge danger">unusable</span>}
          </span>
          <span className="muted">
            {familyLabel(model.family)} · {formatBytes(model.bytes)} · {sourceLabel(model)}
          </span>
        </span>
      </button>
    </li>
  );
}

/** Import by path (on the studio's machine, as Open and Export take them) or download from the Hub. */
function AddModel() {
  const studio = useStudio();
  const models = modelsOf(studio);
  const [tab, setTab] = useState<'import' | 'download'>('import');
  const [path, setPath] = useState('');
  const [ref, setRef] = useState('');
  const [name, setName] = useState('');
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    setBusy(true);
    const ok = tab === 'import' ? await models.importPath(path.trim(), name.trim() || undefined) : await models.download(ref.trim(), name.trim() || undefined, token.trim() || undefined);
    setBusy(false);
    if (ok) {
      setPath('');
      setRef('');
      setName('');
    }
  };
  return (
    <form
      className="models-add"
      aria-label="Add a model"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <div className="models-tabs" role="tablist">
        <button type="button" role="tab" aria-selected={tab === 'import'} aria-pressed={tab === 'import'} data-testid="models-tab-import" onClick={() => setTab('import')}>
          Import a file or folder
        </button>
        <button type="button" role="tab" aria-selected={tab === 'download'} aria-pressed={tab === 'download'} data-testid="models-tab-download" onClick={() => setTab('download')}>
          Download from the Hub
        </button>
      </div>
      {tab === 'import' ? (
        <>
        {isWebDoor() && <UploadFiles name={name.trim() || undefined} onStarted={() => setName('')} />}
        <label className="field">
          <span className="label">{isWebDoor() ? "A .safetensors checkpoint or a diffusers folder, on the studio's machine" : 'A .safetensors checkpoint or a diffusers folder (or File → Import Model… to choose one)'}</span>
          <input data-testid="models-import-path" value={path} onChange={(e) => setPath(e.target.value)} placeholder="/home/me/models/dreamshaper_8.safetensors" />
        </label>
        </>
      ) : (
        <>
          <label className="field">
            <span className="label">Hub repo id or file URL</span>
            <input data-testid="models-download-ref" value={ref} onChange={(e) => setRef(e.target.value)} placeholder="owner/model or https://huggingface.co/owner/repo/resolve/main/model.safetensors" />
          </label>
          <label className="field">
            <span className="label">Token for gated repos (default: HF_TOKEN on the studio's machine)</span>
            <input type="password" autoComplete="off" data-testid="models-download-token" value={token} onChange={(e) => setToken(e.target.value)} placeholder="hf_…" />
          </label>
        </>
      )}
      <div className="row">
        <input aria-label="Name (optional)" data-testid="models-add-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="Name (optional)" />
        <button type="submit" className="primary" data-testid="models-add-submit" disabled={busy || !(tab === 'import' ? path.trim() : ref.trim())}>
          {tab === 'import' ? 'Import' : 'Download'}
        </button>
      </div>
    </form>
  );
}

/**
 * Web mode: the browser's file picker. The chosen checkpoint (and its NAME.yaml,
 * NAME.preview.png or NAME.atelier.json) is sent to the studio (upload.ts), then imported
 * there as a job in the list below; the upload's own progress shows here, with Cancel.
 */
function UploadFiles({ name, onStarted }: { name: string | undefined; onStarted: () => void }) {
  const studio = useStudio();
  const [upload, setUpload] = useState<{ file: string; sent: number; total: number; cancel: () => void } | null>(null);
  const choose = (files: File[]) => {
    let running: RunningUpload;
    try {
      running = uploadCheckpoint(files, name, (p) => setUpload((u) => (u ? { ...u, ...p } : u)));
    } catch (error) {
      studio.toast('error', errorMessage(error));
      return;
    }
    const checkpoint = files.find((f) => /\.safetensors$/i.test(f.name))!;
    setUpload({ file: checkpoint.name, sent: 0, total: files.reduce((n, f) => n + f.size, 0), cancel: running.cancel });
    onStarted();
    running.done.then(
      () => setUpload(null),
      (error: unknown) => {
        setUpload(null);
        if (!(error instanceof ApiError && error.code === 'cancelled')) studio.toast('error', `Upload of ${checkpoint.name} failed: ${errorMessage(error)}`);
      },
    );
  };
  return (
    <div className="field" data-testid="models-upload">
      <span className="label">A .safetensors checkpoint from this computer</span>
      {upload ? (
        <div className="row models-upload-row">
          <div className="bar" role="progressbar" aria-label={`Uploading ${upload.file}`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round((100 * upload.sent) / Math.max(1, upload.total))} data-testid="models-upload-progress">
            <div className="fill" style={{ width: `${(100 * upload.sent) / Math.max(1, upload.total)}%` }} />
          </div>
          <span className="muted">
            ↑ {upload.file} {formatBytes(upload.sent)} of {formatBytes(upload.total)}
          </span>
          <button type="button" data-testid="models-upload-cancel" aria-label={`Cancel the upload of ${upload.file}`} onClick={() => upload.cancel()}>
            Cancel
          </button>
        </div>
      ) : (
        <label className="button-like">
          Choose files…
          <input
            type="file"
            multiple
            hidden
            accept=".safetensors,.yaml,.png,.json"
            data-testid="models-upload-input"
            onChange={(e) => {
              const files = Array.from(e.target.files ?? []);
              e.target.value = '';
              if (files.length > 0) choose(files);
            }}
          />
        </label>
      )}
    </div>
  );
}

function JobList() {
  const studio = useStudio();
  const models = modelsOf(studio);
  const jobs = useModels(models, (s) => s.jobs);
  if (jobs.length === 0) return null;
  return (
    <ul className="models-jobs" aria-label="Imports and downloads" data-testid="models-jobs">
      {jobs.slice(0, 5).map((j) => (
        <JobRow key={j.jobId} job={j} />
      ))}
    </ul>
  );
}

function JobRow({ job }: { job: ModelJob }) {
  const models = modelsOf(useStudio());
  const label = job.label.split(/[\\/]/).filter(Boolean).at(-1) ?? job.label;
  const what =
    job.state === 'queued'
      ? 'waiting'
      : job.state === 'running'
        ? job.stage === 'download' && job.done !== undefined
          ? `downloading ${job.file ?? ''} ${formatBytes(job.done)}${job.total ? ` of ${formatBytes(job.total)}` : ''}`
          : `${job.kind === 'import' ? 'importing' : 'converting'}: ${(job.stage ?? '').replace('_', ' ')}`
        : job.state === 'completed'
          ? `done: ${job.modelName ?? ''}`
          : job.state;
  return (
    <li className={`models-job ${job.state}`} data-testid="models-job" data-job={job.jobId} data-state={job.state} data-kind={job.kind}>
      <div className="row">
        <span className="models-job-label" title={job.label}>
          {job.kind === 'import' ? '⇣ ' : '☁ '}
          {label}
        </span>
        <span className="spacer" />
        <span className="muted">{what}</span>
        {(job.state === 'queued' || job.state === 'running') && (
          <button type="button" className="models-job-cancel" aria-label={`Cancel ${label}`} data-testid="models-job-cancel" onClick={() => void models.cancel(job.jobId)}>
            Cancel
          </button>
        )}
      </div>
      {job.state === 'running' && (
        <div className="bar" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round((job.fraction ?? 0) * 100)} data-testid="models-job-progress">
          <div className="fill" style={{ width: `${Math.round((job.fraction ?? 0) * 100)}%` }} />
        </div>
      )}
      {job.error && job.state === 'failed' && (
        <p className="models-job-error" data-testid="models-job-error">
          {job.error.message}
        </p>
      )}
    </li>
  );
}
