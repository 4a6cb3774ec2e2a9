import {
  ApiError,
  type CandidateSummary,
  type GenerationRequestInput,
  type ModelEntry,
  type StudioApi,
  type StudioEvent,
} from '../../../app/contract/index.js';
import { seedAfterRun, seedForRun } from '../prompt/seeds.js';
import { type Viewport } from '../canvas/viewport.js';
import { defaultSettings, type GenerationSettings, requestFromSettings } from './settings.js';
import { createStore, type Store } from './store.js';

/** The canvas tools: the table in canvas/gestures/index.ts. */
export type { ToolName } from '../canvas/gestures/index.js';
import type { ToolName } from '../canvas/gestures/index.js';

export interface JobView {
  jobId: string;
  state: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
  request: GenerationRequestInput;
  /** What the artist asked for: a first pass, a refinement of a candidate, or variations. */
  purpose: 'generate' | 'refine' | 'variations';
  position?: number;
  step?: number;
  totalSteps?: number;
  elapsedMs?: number;
  etaMs?: number;
  /** data: URL of the latest live preview. */
  preview?: string;
  device?: string;
}

export interface StagedCandidate extends CandidateSummary {
  generationId: string;
  request: GenerationRequestInput;
}

export interface Toast {
  id: number;
  kind: 'error' | 'info';
  message: string;
}

export interface Preset {
  name: string;
  settings: GenerationSettings;
}

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
  settings: GenerationSettings;
  models: ModelEntry[];
  jobs: JobView[];
  /** The current generation's candidates (the staging strip). */
  staging: StagedCandidate[];
  favourites: ReadonlySet<string>;
  /** Candidate ids chosen for side-by-side compare (at most two). */
  compare: readonly string[];
  toasts: Toast[];
  presets: Preset[];
  /** Prompts used before, for autocomplete. */
  promptHistory: string[];
}

const PRESETS_KEY = 'atelier.presets';
const PROMPTS_KEY = 'atelier.prompts';

function loadJson<T>(key: string, fallback: T): T {
  try {
    const raw = window.localStorage.getItem(key);
    return raw ? (JSON.parse(raw) as T) : fallback;
  } catch {
    return fallback;
  }
}

function saveJson(key: string, value: unknown): void {
  try {
    window.localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: presets then live for this session only.
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

/**
 * The studio's UI state and the actions that talk to StudioApi: models, generation jobs
 * and their events, the staging strip, toasts. Document edits (layers, masks) live in the
 * document model; this holds what is not saved in a project.
 */
export class StudioController {
  readonly store: Store<StudioUiState>;
  private toastId = 0;

  constructor(readonly api: StudioApi) {
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
      favourites: new Set(),
      compare: [],
      toasts: [],
      presets: loadJson<Preset[]>(PRESETS_KEY, []),
      promptHistory: loadJson<string[]>(PROMPTS_KEY, []),
    });
  }

  get state(): StudioUiState {
    return this.store.get();
  }

  /** Subscribes to the event stream; returns the unsubscribe function. */
  connect(): () => void {
    return this.api.subscribe((event) => this.onEvent(event));
  }

  toast(kind: Toast['kind'], message: string): void {
    const toast = { id: ++this.toastId, kind, message };
    this.store.set((s) => ({ toasts: [...s.toasts, toast] }));
    if (kind === 'info') setTimeout(() => this.dismissToast(toast.id), 4000);
  }

  dismissToast(id: number): void {
    this.store.set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) }));
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
    saveJson(PRESETS_KEY, presets);
  }

  applyPreset(name: string): void {
    const preset = this.state.presets.find((p) => p.name === name);
    if (preset) this.updateSettings({ ...preset.settings, prompt: preset.settings.prompt });
  }

  deletePreset(name: string): void {
    const presets = this.state.presets.filter((p) => p.name !== name);
    this.store.set({ presets });
    saveJson(PRESETS_KEY, presets);
  }

  private rememberPrompt(prompt: string): void {
    if (!prompt.trim()) return;
    const promptHistory = [prompt, ...this.state.promptHistory.filter((p) => p !== prompt)].slice(0, 200);
    this.store.set({ promptHistory });
    saveJson(PROMPTS_KEY, promptHistory);
  }

  /**
   * Queues a generation from the panel's settings plus the images the caller rendered
   * (controls, init, mask). Returns the job id, or undefined after showing why not.
   */
  async generate(extra: Partial<GenerationRequestInput> = {}, purpose: JobView['purpose'] = 'generate'): Promise<string | undefined> {
    const settings = this.state.settings;
    if (!settings.model) {
      this.toast('error', 'Choose a model first');
      return undefined;
    }
    const seed = extra.seed ?? seedForRun(settings.seedPolicy, settings.seed);
    const request: GenerationRequestInput = { ...requestFromSettings(settings, seed), ...extra };
    const result = await this.attempt('Generation was refused', () => this.api.call('generate', { request }));
    if (!result) return undefined;
    this.rememberPrompt(settings.prompt);
    if (extra.seed === undefined) this.updateSettings({ seed: seedAfterRun(settings.seedPolicy, seed, request.batch ?? 1) });
    this.upsertJob({ jobId: result.jobId, state: 'queued', request, purpose });
    return result.jobId;
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

  private upsertJob(job: Partial<JobView> & { jobId: string }): void {
    this.store.set((s) => {
      const existing = s.jobs.find((j) => j.jobId === job.jobId);
      if (existing) return { jobs: s.jobs.map((j) => (j.jobId === job.jobId ? { ...j, ...job } : j)) };
      const fresh: JobView = { state: 'queued', request: { model: '', prompt: '', seed: 0 }, purpose: 'generate', ...job };
      return { jobs: [...s.jobs, fresh] };
    });
  }

  private removeJob(jobId: string): void {
    this.store.set((s) => ({ jobs: s.jobs.filter((j) => j.jobId !== jobId) }));
  }

  onEvent(event: StudioEvent): void {
    switch (event.type) {
      case 'job.queued':
        this.upsertJob({ jobId: event.jobId, position: event.position });
        break;
      case 'job.started':
        this.upsertJob({ jobId: event.jobId, state: 'running', device: event.device, totalSteps: event.totalSteps, step: 0 });
        break;
      case 'job.progress':
        this.upsertJob({
          jobId: event.jobId,
          state: 'running',
          step: event.step,
          totalSteps: event.totalSteps,
          elapsedMs: event.elapsedMs,
          etaMs: event.etaMs,
          ...(event.preview ? { preview: `data:image/png;base64,${event.preview}` } : {}),
        });
        break;
      case 'job.completed': {
        const job = this.state.jobs.find((j) => j.jobId === event.jobId);
        const request = job?.request ?? { model: '', prompt: '', seed: 0 };
        const staged = event.candidates.map((c) => ({ ...c, generationId: event.generationId, request: { ...request, seed: c.seed, batch: 1 } }));
        this.store.set({ staging: staged, compare: [] });
        this.removeJob(event.jobId);
        this.completedListeners.forEach((l) => l(event.generationId, staged, job));
        break;
      }
      case 'job.failed':
        this.removeJob(event.jobId);
        if (event.cancelled) this.toast('info', 'Generation cancelled');
        else this.toast('error', `Generation failed: ${event.error.message}`);
        break;
      default:
        break;
    }
  }

  private readonly completedListeners = new Set<(generationId: string, candidates: StagedCandidate[], job: JobView | undefined) => void>();

  /** The document adds candidates and lineage when a generation completes. */
  onGenerationCompleted(listener: (generationId: string, candidates: StagedCandidate[], job: JobView | undefined) => void): () => void {
    this.completedListeners.add(listener);
    return () => this.completedListeners.delete(listener);
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
