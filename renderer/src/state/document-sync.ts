import type { StudioApi } from '../../../app/contract/index.js';
import type { ProjectAssets, ProjectDocument } from '../../../app/projects/document/index.js';
import type { DocumentSession } from './document.js';
import type { GenerationSettings } from './settings.js';
import type { Store } from './store.js';

export interface DocumentSyncOptions {
  api: StudioApi;
  session: DocumentSession;
  /** The studio's state: the panel's generation settings are the document's (one shape). */
  ui: Store<{ settings: GenerationSettings }>;
  /** Quiet time after the last edit before the copy goes out (typing, dragging). */
  delayMs?: number;
  /** A push that failed in the background (autosave then works from an older copy). */
  onError?: (error: unknown) => void;
  /** When the service received a copy with unsaved changes; defaults to now. */
  now?: () => string;
}

/**
 * Keeps the service's copy of the open project current (projects.update), so autosave and
 * crash recovery have the latest document: a push a short while after the last edit of the
 * document or of the generation settings, only the parts the service has not seen yet (never
 * library images: the document names those by hash and the service reads them itself), and
 * pushes, saves and exports in the order they were asked for.
 *
 * It lives from `start()` to `dispose()`; the studio controller owns it (StudioController.attachDocument).
 * docs/architecture.md, "How a generation travels", step 8.
 */
export class DocumentSync {
  private readonly api: StudioApi;
  readonly session: DocumentSession;
  private readonly ui: Store<{ settings: GenerationSettings }>;
  private readonly delayMs: number;
  private readonly onError: (error: unknown) => void;
  private readonly now: () => string;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private unsubscribe: Array<() => void> = [];
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(options: DocumentSyncOptions) {
    this.api = options.api;
    this.session = options.session;
    this.ui = options.ui;
    this.delayMs = options.delayMs ?? 1000;
    this.onError = options.onError ?? (() => undefined);
    this.now = options.now ?? (() => new Date().toISOString());
  }

  /** Starts following edits. */
  start(): this {
    if (this.disposed) throw new Error('This document sync was disposed');
    if (this.unsubscribe.length > 0) return this;
    let settings = this.ui.get().settings;
    this.unsubscribe = [
      this.session.history.subscribe(() => this.schedule()),
      this.ui.subscribe(() => {
        const next = this.ui.get().settings;
        if (next === settings) return;
        settings = next;
        this.schedule();
      }),
    ];
    return this;
  }

  /** Stops: no further pushes, a pending one is dropped. Work already sent finishes. */
  dispose(): void {
    this.disposed = true;
    this.cancelTimer();
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
  }

  /** The document as the service should have it: the panel's settings are the document's. */
  document(): ProjectDocument {
    return { ...this.session.doc, settings: this.ui.get().settings };
  }

  /** Sends the current document now (after whatever is already queued); rejects when the service refuses it. */
  push(): Promise<void> {
    this.cancelTimer();
    return this.serial(() => this.send());
  }

  /**
   * Runs `task` in turn with pushes, given the parts the service has not seen yet (marked
   * sent; sent again later if the task fails). Saving goes through here, so a save never
   * overtakes a push that carries the parts it refers to.
   */
  withUnsentAssets<T>(task: (assets: ProjectAssets) => Promise<T>): Promise<T> {
    return this.serial(() => this.withAssets(task));
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    // The next task waits for this one whether it succeeded or not; this one's caller gets its error.
    this.queue = run.catch(() => undefined);
    return run;
  }

  private schedule(): void {
    if (this.disposed) return;
    this.cancelTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.push().catch((error: unknown) => this.onError(error));
    }, this.delayMs);
  }

  private cancelTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private async send(): Promise<void> {
    const sessionId = this.session.session.get().sessionId;
    if (!sessionId) return;
    const document = this.document();
    const { dirty } = await this.withAssets((assets) => this.api.call('projects.update', { sessionId, document, assets }));
    // Taken after the service answered: an autosave that started before it took this copy
    // carries an earlier time, so the indicator waits for the next one. Only a dirty copy is
    // autosaved; a clean one needs no recovery.
    if (dirty && this.session.session.get().sessionId === sessionId) this.session.session.set({ pushedAt: this.now() });
  }

  private async withAssets<T>(task: (assets: ProjectAssets) => Promise<T>): Promise<T> {
    const assets = this.session.takeUnsentAssets();
    try {
      return await task(assets);
    } catch (error) {
      this.session.forgetSent(Object.keys(assets));
      throw error;
    }
  }
}
