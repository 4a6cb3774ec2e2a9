import type { ProjectDocument } from '../../contract/projects.js';
import { type Patch, applyPatch, diff, invert } from './diff.js';

/** One undo step: the diff it made and a label for "Undo Move layer". */
export interface HistoryEntry {
  readonly label: string;
  readonly patch: Patch;
}

export interface HistoryOptions {
  /** Undo steps kept; the oldest are dropped beyond this. */
  limit?: number;
}

/**
 * The editing session of one document: the current value, undo/redo stacks of diffs, the
 * selection and whether there are unsaved changes. Built for a UI store
 * (`useSyncExternalStore(history.subscribe, () => history.document)`).
 *
 * - `change(update)` is one undoable step, unless a gesture is open: then every change until
 *   `endGesture()` becomes one step (a whole drag undoes at once).
 * - `applyRemote(update)` (candidates arriving) and `load(doc)` (opening a file) change the
 *   document without an undo step.
 * - The selection lives outside the undoable state: selecting never clears redo.
 */
export class History {
  private current: ProjectDocument;
  private saved: ProjectDocument;
  private undoStack: HistoryEntry[] = [];
  private redoStack: HistoryEntry[] = [];
  private gesture: { start: ProjectDocument; label: string } | null = null;
  private selected: readonly string[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly limit: number;

  constructor(doc: ProjectDocument, options: HistoryOptions = {}) {
    this.current = doc;
    this.saved = doc;
    this.limit = options.limit ?? 500;
  }

  get document(): ProjectDocument {
    return this.current;
  }

  /** Selected layer ids that still exist. */
  get selection(): readonly string[] {
    return this.selected;
  }

  get canUndo(): boolean {
    return this.undoStack.length > 0 || (this.gesture !== null && this.current !== this.gesture.start);
  }

  get canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  get undoLabel(): string | undefined {
    return this.undoStack.at(-1)?.label;
  }

  get redoLabel(): string | undefined {
    return this.redoStack.at(-1)?.label;
  }

  get inGesture(): boolean {
    return this.gesture !== null;
  }

  /** Whether the document differs from what was last loaded or saved. */
  get dirty(): boolean {
    return this.current !== this.saved && diff(this.saved, this.current).length > 0;
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /**
   * An edit by the artist. Returns the new document. An update that throws changes nothing
   * (the error propagates); one that changes nothing adds no step and keeps redo.
   */
  change(update: (doc: ProjectDocument) => ProjectDocument, label = 'Edit'): ProjectDocument {
    const next = update(this.current);
    if (next === this.current) return next;
    if (this.gesture) {
      this.current = next;
    } else {
      const patch = diff(this.current, next);
      this.current = next;
      if (patch.length > 0) this.push({ label, patch });
    }
    this.notify();
    return next;
  }

  /** Starts a gesture (pointer down): changes until endGesture() are one undo step. */
  beginGesture(label = 'Edit'): void {
    if (this.gesture) this.endGesture();
    this.gesture = { start: this.current, label };
  }

  /** Ends the gesture (pointer up), recording it as one step if it changed anything. */
  endGesture(): void {
    const gesture = this.gesture;
    if (!gesture) return;
    this.gesture = null;
    const patch = diff(gesture.start, this.current);
    if (patch.length > 0) this.push({ label: gesture.label, patch });
    this.notify();
  }

  /** Abandons the gesture (Escape during a drag): back to where it started. */
  cancelGesture(): void {
    const gesture = this.gesture;
    if (!gesture) return;
    this.gesture = null;
    this.current = applyPatch(this.current, invert(diff(gesture.start, this.current)));
    this.notify();
  }

  /**
   * A change that is not the artist's edit (candidates arriving, a generation recorded): it
   * is applied, marks the document dirty, and is not undone by undo. Undo entries address
   * layers and candidates by id, so they still apply after it.
   */
  applyRemote(update: (doc: ProjectDocument) => ProjectDocument): ProjectDocument {
    const next = update(this.current);
    if (next === this.current) return next;
    if (this.gesture) {
      // Keep the remote change out of the gesture's step: replay it on the gesture's start.
      this.gesture = { ...this.gesture, start: applyPatch(this.gesture.start, diff(this.current, next)) };
    }
    this.current = next;
    this.notify();
    return next;
  }

  /** Replaces the document (a file opened, a recovery loaded): no undo step, stacks cleared, clean. */
  load(doc: ProjectDocument): void {
    this.current = doc;
    this.saved = doc;
    this.undoStack = [];
    this.redoStack = [];
    this.gesture = null;
    this.selected = [];
    this.notify();
  }

  /** Records that the current document was saved (dirty becomes false). */
  markSaved(doc: ProjectDocument = this.current): void {
    this.saved = doc;
    this.notify();
  }

  undo(): boolean {
    if (this.gesture) this.endGesture();
    const entry = this.undoStack.pop();
    if (!entry) return false;
    this.current = applyPatch(this.current, invert(entry.patch));
    this.redoStack.push(entry);
    this.pruneSelection();
    this.notify();
    return true;
  }

  redo(): boolean {
    if (this.gesture) this.endGesture();
    const entry = this.redoStack.pop();
    if (!entry) return false;
    this.current = applyPatch(this.current, entry.patch);
    this.undoStack.push(entry);
    this.pruneSelection();
    this.notify();
    return true;
  }

  /** Selects layers by id. Not an edit: undo and redo stacks are untouched. */
  select(layerIds: readonly string[]): void {
    const known = new Set(this.current.layers.map((l) => l.id));
    this.selected = layerIds.filter((id) => known.has(id));
    this.notify();
  }

  private push(entry: HistoryEntry): void {
    this.undoStack.push(entry);
    if (this.undoStack.length > this.limit) this.undoStack.splice(0, this.undoStack.length - this.limit);
    this.redoStack = [];
    this.pruneSelection();
  }

  private pruneSelection(): void {
    const known = new Set(this.current.layers.map((l) => l.id));
    if (this.selected.some((id) => !known.has(id))) this.selected = this.selected.filter((id) => known.has(id));
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
