import { useEffect } from 'react';
import type { ManagedModel, ModelDefaults, ModelJob, StudioEvent } from '../../../app/contract/index.js';
import { settingsForModel } from '../prompt/model-size.js';
import { defaultSettings, type GenerationSettings } from '../state/settings.js';
import { createStore, type Store, useStore } from '../state/store.js';
import { errorMessage, type StudioController } from '../state/studio.js';

// The model manager's state (docs/models.md, "The model manager"): the catalog, the import and
// download jobs as their `models.job` events report them, and whether the manager is open. One
// per studio window; the manager, the prompt panel's picker and the top bar share it.

export interface ModelsState {
  open: boolean;
  /** The model the manager shows; null: the first one. */
  selected: string | null;
  catalog: ManagedModel[];
  /** The catalog has been listed at least once. */
  loaded: boolean;
  jobs: ModelJob[];
}

export class ModelsController {
  readonly store: Store<ModelsState> = createStore<ModelsState>({ open: false, selected: null, catalog: [], loaded: false, jobs: [] });
  private listeners = 0;
  private unsubscribe: (() => void) | null = null;
  private loading: Promise<void> | null = null;

  constructor(readonly studio: StudioController) {}

  get state(): ModelsState {
    return this.store.get();
  }

  /** Follows model events while some view needs them; returns the stop function. */
  listen(): () => void {
    if (this.listeners++ === 0) this.unsubscribe = this.studio.api.subscribe((event) => this.onEvent(event));
    return () => {
      if (--this.listeners > 0) return;
      this.unsubscribe?.();
      this.unsubscribe = null;
    };
  }

  private onEvent(event: StudioEvent): void {
    if (event.type === 'models.job') {
      const { type: _type, ...job } = event;
      const jobs = this.state.jobs.some((j) => j.jobId === job.jobId) ? this.state.jobs.map((j) => (j.jobId === job.jobId ? job : j)) : [job, ...this.state.jobs];
      this.store.set({ jobs });
      // The open manager shows how each job ended in its list; a toast tells it when the manager is closed.
      if (this.state.open) {
        // The new model is the one the artist wants to look at (and set defaults for) next.
        if (job.state === 'completed' && job.modelId) this.store.set({ selected: job.modelId });
        return;
      }
      if (job.state === 'completed') this.studio.toast('info', `${job.kind === 'import' ? 'Imported' : 'Downloaded'} ${job.modelName ?? job.label}`);
      if (job.state === 'failed') this.studio.toast('error', `${job.kind === 'import' ? 'Import' : 'Download'} of ${job.label} failed: ${job.error?.message ?? 'unknown error'}`);
    }
    // The desktop's File → Import Model… chose a file or folder in the native dialog: the
    // manager opens on it and imports it, with the job's progress in its list.
    if (event.type === 'desktop.command' && event.command === 'models.import' && event.path) {
      const path = event.path;
      void this.openManager().then(() => this.importPath(path));
    }
    if (event.type === 'models.changed') {
      // The picker's list and the manager's catalog both follow (another window may have changed them).
      void this.studio.loadModels();
      if (this.state.loaded) void this.reload();
    }
  }

  async openManager(select?: string): Promise<void> {
    this.store.set({ open: true, ...(select ? { selected: select } : {}) });
    const jobs = await this.studio.attempt('Could not list model jobs', () => this.studio.api.call('models.jobs', {}));
    if (jobs) this.store.set({ jobs: [...jobs].reverse() });
    await this.reload();
  }

  close(): void {
    this.store.set({ open: false });
  }

  select(id: string): void {
    this.store.set({ selected: id });
  }

  /** Lists the catalog again; concurrent callers share one request. */
  reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const catalog = await this.studio.attempt('Could not list the models', () => this.studio.api.call('models.catalog', {}));
        if (catalog) this.store.set({ catalog, loaded: true });
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  async importPath(path: string, name?: string): Promise<boolean> {
    const started = await this.studio.attempt('Could not import', () => this.studio.api.call('models.import', { path, ...(name ? { name } : {}) }));
    return started !== undefined;
  }

  async download(ref: string, name?: string, token?: string): Promise<boolean> {
    const started = await this.studio.attempt('Could not download', () => this.studio.api.call('models.download', { ref, ...(name ? { name } : {}), ...(token ? { token } : {}) }));
    return started !== undefined;
  }

  async cancel(jobId: string): Promise<void> {
    const done = await this.studio.attempt('Could not cancel', () => this.studio.api.call('models.cancel', { jobId }));
    if (done && !done.cancelled) this.studio.toast('info', 'That job could not be stopped half-way; it finishes by itself');
  }

  async rename(id: string, name: string): Promise<boolean> {
    const done = await this.studio.attempt('Could not rename the model', () => this.studio.api.call('models.rename', { id, name }));
    return done !== undefined;
  }

  async remove(id: string): Promise<boolean> {
    const done = await this.studio.attempt('Could not delete the model', () => this.studio.api.call('models.delete', { id }));
    if (done) {
      this.store.set((s) => ({ selected: s.selected === id ? null : s.selected, catalog: s.catalog.filter((m) => m.id !== id) }));
      this.studio.toast('info', done.filesRemoved ? 'Model deleted' : 'Model taken off the list (its folder was left where it is)');
    }
    return done !== undefined;
  }

  async saveDefaults(id: string, defaults: ModelDefaults): Promise<boolean> {
    try {
      const saved = await this.studio.api.call('models.setDefaults', { id, defaults });
      this.store.set((s) => ({ catalog: s.catalog.map((m) => (m.id === id ? { ...m, defaults: saved } : m)) }));
      return true;
    } catch (error) {
      this.studio.toast('error', `Could not save the defaults: ${errorMessage(error)}`);
      return false;
    }
  }

  /**
   * Picks a model for generation and applies its defaults to the settings (size, sampler,
   * steps, CFG, VAE). A VAE the previous model's defaults had set is dropped when the new
   * model names none: it belonged to that model, not to the artist's choice. `from`: the
   * model picked before, when the caller has already switched the settings to `id`.
   */
  async choose(id: string, from: string = this.studio.state.settings.model): Promise<void> {
    const previous = this.state.catalog.find((m) => m.id === from)?.defaults;
    // The pick shows at once (with the frame and SDXL-only settings the prompt panel's picker
    // would give it); the defaults follow once the catalog is at hand (unless another pick came first).
    this.studio.updateSettings(settingsForModel(this.studio.state.settings, this.studio.state.models, id, defaultSettings));
    if (!this.state.loaded) await this.reload();
    if (this.studio.state.settings.model !== id) return;
    const defaults = this.state.catalog.find((m) => m.id === id)?.defaults ?? {};
    const patch = settingsFromDefaults(defaults);
    if (!defaults.vae && previous?.vae && this.studio.state.settings.vae === previous.vae) patch.vae = undefined;
    this.studio.updateSettings(patch);
  }
}

/** The settings a model's defaults set (every field it has, nothing else). */
export function settingsFromDefaults(defaults: ModelDefaults): Partial<GenerationSettings> {
  const patch: Partial<GenerationSettings> = {};
  if (defaults.width !== undefined) patch.width = defaults.width;
  if (defaults.height !== undefined) patch.height = defaults.height;
  if (defaults.sampler !== undefined) patch.sampler = defaults.sampler;
  if (defaults.steps !== undefined) patch.steps = defaults.steps;
  if (defaults.cfg !== undefined) patch.cfg = defaults.cfg;
  if (defaults.vae !== undefined) patch.vae = defaults.vae;
  return patch;
}

const controllers = new WeakMap<StudioController, ModelsController>();

/** The window's model manager state (made on first use). */
export function modelsOf(studio: StudioController): ModelsController {
  let controller = controllers.get(studio);
  if (!controller) {
    controller = new ModelsController(studio);
    controllers.set(studio, controller);
  }
  return controller;
}

/** A slice of the model manager's state; the component also keeps the event subscription alive. */
export function useModels<T>(models: ModelsController, select: (state: ModelsState) => T): T {
  useEffect(() => models.listen(), [models]);
  return useStore(models.store, select);
}

/** 1.9 GiB, 312 MiB, 48 KiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value >= 10 ? 0 : 1)} ${units[unit]}`;
}
