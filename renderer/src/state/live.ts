import { generationMode } from '../canvas/mode.js';
import { canvasInputs } from './actions.js';
import { type DocumentSession } from './document.js';
import { type StudioController, errorMessage } from './studio.js';

// Live mode (docs: issue 15): while it is on, every change the artist makes to what a
// generation would take — strokes, paint, masks, regions, layers, the prompt and settings, the
// frame — schedules a preview of the frame: fixed seed, few steps, one candidate (studio.ts
// `preview`). Changes arriving within `debounceMs` make one preview; a newer preview cancels
// the one still running; and no preview starts while a full generation waits or runs, so
// live mode never holds up the queue (the controller also cancels a running preview when a
// full generation is submitted).

const SETTINGS_THAT_MATTER = ['model', 'prompt', 'negativePrompt', 'width', 'height', 'strength', 'cfg', 'seed', 'maskBlur', 'onlyMasked', 'maskPadding'] as const;

export class LiveMode {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private current: string | undefined;
  /** Bumped at every change: a preview prepared for an older state is not sent. */
  private version = 0;
  private waitingForQueue = false;
  private lastLayers: unknown;
  private lastKey = '';

  constructor(
    private readonly studio: StudioController,
    private readonly session: DocumentSession,
    private readonly debounceMs = 250,
  ) {}

  /** Starts watching and makes a first preview; returns the function that stops it. */
  start(): () => void {
    const offDoc = this.session.history.subscribe(() => this.changed());
    const offUi = this.studio.store.subscribe(() => this.changed());
    const offMode = generationMode.subscribe(() => this.changed());
    this.snapshot();
    this.schedule();
    return () => {
      offDoc();
      offUi();
      offMode();
      if (this.timer) clearTimeout(this.timer);
      this.version++;
      const running = this.current;
      if (running && this.studio.state.jobs.some((j) => j.jobId === running)) void this.studio.cancel(running);
    };
  }

  private settingsKey(): string {
    const { settings, frame } = this.studio.state;
    return JSON.stringify([SETTINGS_THAT_MATTER.map((k) => settings[k]), frame, generationMode.get().choice]);
  }

  private snapshot(): void {
    this.lastLayers = this.session.doc.layers;
    this.lastKey = this.settingsKey();
  }

  private fullJobsActive(): boolean {
    return this.studio.state.jobs.some((j) => j.purpose !== 'live');
  }

  private changed(): void {
    if (this.waitingForQueue && !this.fullJobsActive()) {
      this.waitingForQueue = false;
      this.schedule();
    }
    // Generations filed into the document and selection changes are not edits of the picture.
    if (this.session.doc.layers === this.lastLayers && this.settingsKey() === this.lastKey) return;
    this.snapshot();
    this.version++;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), this.debounceMs);
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    if (this.fullJobsActive()) {
      this.waitingForQueue = true;
      return;
    }
    const version = this.version;
    const stale = this.current;
    if (stale && this.studio.state.jobs.some((j) => j.jobId === stale)) void this.studio.cancel(stale);
    try {
      const { inputs } = await canvasInputs(this.studio, this.session);
      if (version !== this.version) return;
      this.current = await this.studio.preview(inputs);
    } catch (error) {
      this.studio.toast('error', `Live preview could not be prepared: ${errorMessage(error)}`);
    }
  }
}
