import { ApiError, type GenerationRequestInput, type ModelEntry, type StudioApi, type StudioEvent } from '../../../app/contract/index.js';
import { type ConnectionState, connectionOf } from '../api/connection.js';
import { seedAfterRun, seedForRun } from '../prompt/seeds.js';
import { type Viewport } from '../canvas/viewport.js';
import { type DocumentSession } from './document.js';
import { DocumentSync } from './document-sync.js';
import { type JobAction, type JobView, type LivePreview, type StagedBatch, type StagedCandidate, reduceJobs, stageBatch } from './jobs.js';
import { LocalPersistence, type Preset, withPrompt } from './persistence.js';
import type { RequestInputs } from '../../../app/projects/document/index.js';
import { type GenerationSettings, defaultSettings, requestFromSettings } from './settings.js';
import { createStore, type Store } from './store.js';
import { type Toast, Toaster } from './toasts.js';

export type { JobView, LivePreview, StagedBatch, StagedCandidate } from './jobs.js';
export type { Preset } from './persistence.js';
export type { Toast } from './toasts.js';

/** The canvas tools: the table in canvas/gestures/index.ts (a new tool is added there, not here). */
export type { ToolName } from '../canvas/gestures/index.js';
import type { ToolName } from '../canvas/gestures/index.js';

export interface StudioUiState {
  view: 'canvas' | 'history';
  tool: ToolName;
  color: string;
  strokeWidth: number;
  viewport: Viewport;
  /** Top-left of the generation frame in canvas pixels; its size is the settings' width × height. */
  frame: { x: number; y: number };
  /** Label given to the next region box. */
  regionLabel: string;
  /** Mask brush feather (blur radius in pixels). */
  maskFeather: number;
  /** The open document's generation settings as the panel edits them (the document's own shape). */
  settings: GenerationSettings;
  models: ModelEntry[];
  jobs: readonly JobView[];
  /** The current generation's candidates (the staging strip). */
  staging: readonly StagedCandidate[];
  /** Live mode: on while the artist wants previews at every change; the newest preview. */
  liveOn: boolean;
  live: LivePreview | null;
  /** Batches the strip showed before, newest first. */
  earlier: readonly StagedBatch[];
  /**
   * Variations: how far their starting noise moves from the candidate's toward a new seed's
   * (A1111's variation strength); 1 means wholly new seeds.
   */
  variationStrength: number;
  favourites: ReadonlySet<string>;
  /** Candidate ids chosen for side-by-side compare (at most two). */
  compare: readonly string[];
  toasts: Toast[];
  /** Whether the studio answers (web mode follows its event socket; the desktop is always connected). */
  connection: ConnectionState;
  presets: Preset[];
  /** Prompts used before, for autocomplete. */
  promptHistory: string[];
}

/** Live previews' steps: LCM needs about four; through DPM++ 2M four give a readable draft of the composition. */
export const LIVE_STEPS_LCM = 4;
export const LIVE_STEPS = 4;

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

/** What a generation takes besides the settings: the canvas's images and lineage, and a seed to use instead of the policy's. */
export type GenerationInputs = RequestInputs & { seed?: number };

type CompletedListener = (generationId: string, candidates: StagedCandidate[], job: JobView | undefined) => void;

/**
 * The studio's UI state and the actions that talk to StudioApi: models, generation jobs (their
 * events go through the pure reducer in jobs.ts), the staging strip, toasts (toasts.ts),
 * presets (persistence.ts), and the sync of the open document to the service
 * (document-sync.ts), which it owns. Document edits live in the document model.
 */
export class StudioController {
  readonly store: Store<StudioUiState>;
  private readonly toaster: Toaster;
  private readonly completedListeners = new Set<CompletedListener>();
  private sync: DocumentSync | null = null;

  constructor(
    readonly api: StudioApi,
    private readonly persistence = new LocalPersistence(),
  ) {
    this.store = createStore<StudioUiState>({
      view: 'canvas',
      tool: 'brush',
      color: '#000000',
      strokeWidth: 6,
      viewport: { x: 0, y: 0, scale: 1 },
      frame: { x: 0, y: 0 },
      regionLabel: '',
      maskFeather: 2,
      settings: defaultSettings,
      models: [],
      jobs: [],
      staging: [],
      earlier: [],
      liveOn: false,
      live: null,
      variationStrength: 0.5,
      favourites: new Set(),
      compare: [],
      toasts: [],
      connection: connectionOf(api)?.get() ?? 'connected',
      presets: persistence.loadPresets(),
      promptHistory: persistence.loadPrompts(),
    });
    this.toaster = new Toaster(this.store);
  }

  get state(): StudioUiState {
    return this.store.get();
  }

  /**
   * Subscribes to the event stream and follows the connection; returns the unsubscribe
   * function. When the studio answers again after it went away, what changed meanwhile is
   * asked for: the job list (jobs.ts, 'synced') and the models.
   */
  connect(): () => void {
    const off = this.api.subscribe((event) => this.onEvent(event));
    const source = connectionOf(this.api);
    const offState = source?.subscribe((connection) => {
      const was = this.state.connection;
      this.store.set({ connection });
      if (connection === 'connected' && was === 'disconnected') void this.resync();
    });
    if (source) this.store.set({ connection: source.get() });
    return () => {
      off();
      offState?.();
    };
  }

  /** After a reconnection: the studio's jobs replace what this window believed, models are listed again. */
  async resync(): Promise<void> {
    const jobs = await this.attempt('Could not list the jobs after reconnecting', () => this.api.call('jobs.list', {}));
    if (jobs) this.dispatch({ type: 'synced', jobs });
    await this.loadModels();
    this.toast('info', 'Reconnected to the studio');
  }

  /**
   * Keeps the service's copy of `session` current (autosave, recovery) until the returned
   * function runs; a later call replaces the earlier sync.
   */
  attachDocument(session: DocumentSession, options: { delayMs?: number } = {}): () => void {
    this.sync?.dispose();
    const sync = new DocumentSync({
      api: this.api,
      session,
      ui: this.store,
      ...options,
      // Autosave depends on this copy: say so once, not at every edit.
      onError: (error) => this.toaster.showOnce('error', `Autosave is not receiving changes: ${errorMessage(error)}`),
    }).start();
    this.sync = sync;
    return () => {
      sync.dispose();
      if (this.sync === sync) this.sync = null;
    };
  }

  /** The sync of the attached document, if one is attached. */
  get documentSync(): DocumentSync | null {
    return this.sync;
  }

  toast(kind: Toast['kind'], message: string): void {
    this.toaster.show(kind, message);
  }

  dismissToast(id: number): void {
    this.toaster.dismiss(id);
  }

  /** Runs an API action; any failure becomes a visible toast, never silence. */
  async attempt<T>(what: string, action: () => Promise<T>): Promise<T | undefined> {
    try {
      return await action();
    } catch (error) {
      this.toast('error', `${what}: ${errorMessage(error)}`);
      return undefined;
    }
  }

  updateSettings(patch: Partial<GenerationSettings>): void {
    this.store.set((s) => ({ settings: { ...s.settings, ...patch } }));
  }

  async loadModels(): Promise<void> {
    const models = await this.attempt('Could not list models', () => this.api.call('models.list', {}));
    if (!models) return;
    this.store.set({ models });
    const current = this.state.settings.model;
    const usable = models.filter((m) => m.valid);
    if (!usable.some((m) => m.id === current) && usable[0]) this.updateSettings({ model: usable[0].id });
    const chosen = usable.find((m) => m.id === this.state.settings.model);
    const info = chosen?.info;
    if (info && this.state.settings.width === defaultSettings.width && this.state.settings.height === defaultSettings.height) {
      this.updateSettings({ width: info.defaultWidth, height: info.defaultHeight });
    }
  }

  /** Adds a model folder; the server validates it and the error (if any) is shown. */
  async addModel(path: string, name?: string): Promise<ModelEntry | undefined> {
    const entry = await this.attempt('Could not add the model', () => this.api.call('models.add', name ? { path, name } : { path }));
    await this.loadModels();
    if (entry && !entry.valid) this.toast('error', `The model folder is not usable: ${entry.error ?? 'unknown reason'}`);
    else if (entry) this.toast('info', `Added model ${entry.name}`);
    return entry;
  }

  async removeModel(id: string): Promise<void> {
    await this.attempt('Could not remove the model', () => this.api.call('models.remove', { id }));
    await this.loadModels();
  }

  savePreset(name: string): void {
    const presets = [...this.state.presets.filter((p) => p.name !== name), { name, settings: this.state.settings }];
    this.store.set({ presets });
    this.persistence.savePresets(presets);
  }

  applyPreset(name: string): void {
    const preset = this.state.presets.find((p) => p.name === name);
    if (preset) this.updateSettings(preset.settings);
  }

  deletePreset(name: string): void {
    const presets = this.state.presets.filter((p) => p.name !== name);
    this.store.set({ presets });
    this.persistence.savePresets(presets);
  }

  private rememberPrompt(prompt: string): void {
    const promptHistory = withPrompt(this.state.promptHistory, prompt);
    this.store.set({ promptHistory });
    this.persistence.savePrompts(promptHistory);
  }

  /**
   * Queues a generation: the panel's settings through the one mapping to a request
   * (requestFromSettings), with the images and lineage the caller supplies. Returns the job
   * id, or undefined after showing why not. `settings`: the panel as it was when the artist
   * asked (a canvas render takes a while, and edits made meanwhile belong to the next run).
   */
  async generate(inputs: GenerationInputs = {}, purpose: JobView['purpose'] = 'generate', settings: GenerationSettings = this.state.settings): Promise<string | undefined> {
    const { seed: chosen, ...images } = inputs;
    const seed = chosen ?? seedForRun(settings.seedPolicy, settings.seed);
    return this.submit(requestFromSettings(settings, seed, images), purpose, chosen === undefined, settings.seed);
  }

  /** Runs a stored request again with the seed policy's next seed and the panel's batch size (variations). */
  async rerun(stored: GenerationRequestInput, purpose: JobView['purpose'] = 'variations'): Promise<string | undefined> {
    const settings = this.state.settings;
    return this.submit({ ...stored, seed: seedForRun(settings.seedPolicy, settings.seed), batch: settings.batch }, purpose, true);
  }

  /**
   * Variations of a candidate (docs: issue 15): its generation's stored request — init, mask
   * and controls by library hash — linked to the candidate as its parent. Below strength 1
   * every candidate keeps the candidate's seed and blends its noise toward a new variation
   * seed's (A1111's variation seeds); at 1 they take new seeds outright.
   */
  async vary(stored: GenerationRequestInput, parent: { id: string; seed: number }, strength = this.state.variationStrength): Promise<string | undefined> {
    const settings = this.state.settings;
    const fresh = seedForRun(settings.seedPolicy, settings.seed);
    const { variation: _previous, ...base } = stored;
    const common = { ...base, batch: settings.batch, parentCandidateId: parent.id };
    const request: GenerationRequestInput = strength >= 1 ? { ...common, seed: fresh } : { ...common, seed: parent.seed, variation: { seed: fresh, strength } };
    return this.submit(request, 'variations', true);
  }

  /**
   * A live preview of `inputs` (docs: issue 15): the panel's seed as it is (no policy), one
   * candidate, few steps — LCM's own sampler where the model has it, else DPM++ 2M — and
   * `preview`, so the service neither records nor journals it.
   */
  async preview(inputs: GenerationInputs): Promise<string | undefined> {
    const { seed: _ignored, ...images } = inputs;
    const settings = this.state.settings;
    const model = this.state.models.find((m) => m.id === settings.model);
    const fast = model?.info?.lcm ? { sampler: 'lcm' as const, steps: LIVE_STEPS_LCM, cfg: Math.min(settings.cfg, 2) } : { sampler: 'dpmpp_2m' as const, steps: LIVE_STEPS };
    const request: GenerationRequestInput = { ...requestFromSettings(settings, settings.seed, images), ...fast, batch: 1, preview: true };
    return this.submit(request, 'live', false);
  }

  private async submit(request: GenerationRequestInput, purpose: JobView['purpose'], advanceSeed: boolean, fieldBefore = this.state.settings.seed): Promise<string | undefined> {
    if (!request.model) {
      this.toast('error', 'Choose a model first');
      return undefined;
    }
    // A full generation goes first: a live preview in its way is cancelled (live mode never holds up the queue).
    if (purpose !== 'live') for (const j of this.state.jobs) if (j.purpose === 'live') void this.cancel(j.jobId);
    // `fieldBefore`: the seed field as the run read it; a seed the artist typed since (while the
    // canvas rendered or the call was in flight) wins over the policy's next one.
    const result = await this.attempt('Generation was refused', () => this.api.call('generate', { request }));
    if (!result) return undefined;
    if (purpose !== 'live') this.rememberPrompt(request.prompt);
    const policy = this.state.settings.seedPolicy;
    // With a variation the seed the policy chose is the variation seed (the main one is the parent's).
    if (advanceSeed && this.state.settings.seed === fieldBefore) this.updateSettings({ seed: seedAfterRun(policy, request.variation?.seed ?? request.seed, request.batch ?? 1) });
    this.dispatch({ type: 'submitted', jobId: result.jobId, request, purpose });
    return result.jobId;
  }

  /** Live mode's preview kept as a candidate: the same request run in full (same pixels), recorded, in the strip. */
  async keepLiveAsCandidate(): Promise<string | undefined> {
    const live = this.state.live;
    if (!live) return undefined;
    const { preview: _preview, ...request } = live.request;
    return this.submit(request, 'generate', false);
  }

  async cancel(jobId: string): Promise<void> {
    await this.attempt('Could not cancel', () => this.api.call('jobs.cancel', { jobId }));
  }

  /** Esc: cancels the running job, else the newest queued one. */
  async cancelCurrent(): Promise<void> {
    const jobs = this.state.jobs;
    const target = jobs.find((j) => j.state === 'running') ?? [...jobs].reverse().find((j) => j.state === 'queued');
    if (target) await this.cancel(target.jobId);
  }

  onEvent(event: StudioEvent): void {
    this.dispatch(event);
  }

  /** Applies a job action through the reducer, then carries out its effects. */
  private dispatch(action: JobAction): void {
    const { jobs, staging, earlier, compare, live } = this.state;
    const { state, effects } = reduceJobs({ jobs, staging, earlier, compare, live }, action);
    this.store.set(state);
    for (const effect of effects) {
      if (effect.kind === 'toast') this.toast(effect.level, effect.message);
      else this.completedListeners.forEach((l) => l(effect.generationId, effect.candidates, effect.job));
    }
  }

  /** The document adds candidates and lineage when a generation completes. */
  onGenerationCompleted(listener: CompletedListener): () => void {
    this.completedListeners.add(listener);
    return () => this.completedListeners.delete(listener);
  }

  /** Brings one generation's candidates to the front of the strip; the batch shown before stays reachable. */
  showBatch(candidates: readonly StagedCandidate[]): void {
    this.store.set((s) => stageBatch(s, candidates));
  }

  /** A candidate anywhere in the strip: the batch shown or an earlier one. */
  findStaged(id: string): StagedCandidate | undefined {
    const { staging, earlier } = this.state;
    return staging.find((c) => c.id === id) ?? earlier.flatMap((b) => b.candidates).find((c) => c.id === id);
  }

  toggleFavourite(id: string): void {
    this.store.set((s) => {
      const favourites = new Set(s.favourites);
      if (favourites.has(id)) favourites.delete(id);
      else favourites.add(id);
      return { favourites };
    });
  }

  toggleCompare(id: string): void {
    this.store.set((s) => {
      if (s.compare.includes(id)) return { compare: s.compare.filter((c) => c !== id) };
      return { compare: [...s.compare, id].slice(-2) };
    });
  }

  discard(id: string): void {
    this.store.set((s) => ({ staging: s.staging.filter((c) => c.id !== id), compare: s.compare.filter((c) => c !== id) }));
  }
}
