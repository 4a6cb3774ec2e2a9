import {
  History,
  type Layer,
  type LayerKind,
  type ProjectAssets,
  type ProjectDocument,
  addAsset,
  addLayer,
  createDocument,
  createControlLayer,
  createLayer,
  referencedParts,
  pruneAssets,
} from '../../../app/projects/document/index.js';
import { createStore, type Store } from './store.js';

export interface SessionState {
  /** Raster parts (part → PNG data URL); append-only so undo only swaps references. */
  assets: ProjectAssets;
  /** Where the project was last saved or opened from; null for a new one. */
  path: string | null;
  /** When autosave last wrote a recovery copy. */
  autosavedAt: string | null;
  /** When the service last received the document (autosave copies are older before that). */
  pushedAt: string | null;
  /** The service's session for this project (saving, autosave, recovery); null until known. */
  sessionId: string | null;
}

/**
 * A new project: an empty sketch layer, and a scribble control layer that feeds that sketch
 * to the model's ControlNet, so drawing then pressing Generate follows the drawing.
 */
export function starterDocument(width: number, height: number): ProjectDocument {
  const sketch = createLayer('sketch', { strokes: [] });
  const control = createControlLayer({ controlType: 'scribble', sourceLayerId: sketch.id, name: 'Sketch as scribble' });
  return addLayer(addLayer(createDocument({ width, height }), sketch), control);
}

/**
 * The open project: the document's History (undo/redo, selection, dirty) from
 * app/projects/document, and the raster assets beside it.
 */
export class DocumentSession {
  readonly history: History;
  readonly session: Store<SessionState>;

  constructor(doc: ProjectDocument = starterDocument(512, 512)) {
    this.history = new History(doc);
    this.session = createStore<SessionState>({ assets: {}, path: null, autosavedAt: null, pushedAt: null, sessionId: null });
    this.selectTopSketch();
  }

  private selectTopSketch(): void {
    const sketch = [...this.doc.layers].reverse().find((l) => l.kind === 'sketch');
    if (sketch) this.history.select([sketch.id]);
  }

  get doc(): ProjectDocument {
    return this.history.document;
  }

  get assets(): ProjectAssets {
    return this.session.get().assets;
  }

  /** Adds PNG pixels as a new immutable part and returns its reference. */
  addAsset(dataUrl: string): { part: string } {
    const { assets, ref } = addAsset(this.assets, dataUrl);
    this.session.set({ assets });
    return ref;
  }

  /**
   * Puts back a part the session no longer holds, under its own name (a restored branch,
   * history/branches.ts): parts are immutable, so a name always means the same bytes.
   */
  restoreAsset(part: string, dataUrl: string): void {
    if (Object.hasOwn(this.assets, part)) return;
    this.session.set({ assets: { ...this.assets, [part]: dataUrl } });
  }

  /** A file opened or a recovery loaded: not an undo step. */
  load(doc: ProjectDocument, assets: ProjectAssets, path: string | null, sessionId: string | null = null): void {
    this.sentParts = new Set(Object.keys(assets));
    this.session.set({ assets, path, autosavedAt: null, pushedAt: null, sessionId });
    this.history.load(doc);
    this.selectTopSketch();
  }

  /** Parts the service already holds: requests carry only the new ones. */
  private sentParts = new Set<string>();

  /** Referenced parts the service has not seen yet; marks them sent. */
  takeUnsentAssets(): ProjectAssets {
    const out: Record<string, string> = {};
    for (const [part, url] of Object.entries(this.savedAssets())) {
      if (!this.sentParts.has(part)) out[part] = url;
    }
    for (const part of Object.keys(out)) this.sentParts.add(part);
    return out;
  }

  /** After a failed request, those parts must be sent again. */
  forgetSent(parts: Iterable<string>): void {
    for (const part of parts) this.sentParts.delete(part);
  }

  /** The assets a save must write: only the parts the document refers to. */
  savedAssets(): ProjectAssets {
    return pruneAssets(this.assets, referencedParts(this.doc));
  }

  /** The selected layer (the one tools draw into), if any. */
  get activeLayer(): Layer | undefined {
    const id = this.history.selection[0];
    return id ? this.doc.layers.find((l) => l.id === id) : undefined;
  }

  /**
   * The layer a tool draws into: the selected one when it is of the right kind and unlocked,
   * else the topmost such layer, else a new one (added inside the caller's gesture so the
   * stroke and its new layer undo together).
   */
  targetLayer<K extends LayerKind>(kind: K, make: () => Extract<Layer, { kind: K }>): Extract<Layer, { kind: K }> {
    const active = this.activeLayer;
    if (active && active.kind === kind && !active.locked) return active as Extract<Layer, { kind: K }>;
    const top = [...this.doc.layers].reverse().find((l) => l.kind === kind && !l.locked && l.visible);
    if (top) {
      this.history.select([top.id]);
      return top as Extract<Layer, { kind: K }>;
    }
    const layer = make();
    this.history.change((d) => addLayer(d, layer), `Add ${kind} layer`);
    this.history.select([layer.id]);
    return layer;
  }

  newSketchLayer(name?: string) {
    const layer = createLayer('sketch', { strokes: [], ...(name ? { name } : {}) });
    this.history.change((d) => addLayer(d, layer), 'Add sketch layer');
    this.history.select([layer.id]);
    return layer;
  }
}
