import type { ExportFormat, GenerationRequestInput, OpenedProject, ProjectDocument } from '../../../app/contract/index.js';
import { libraryImageUrl } from '../api/media.js';
import { sourceUrl } from '../canvas/raster.js';
import { addLayer, createControlLayer, createLayer } from '../state/doc-ops.js';
import { type DocumentSession } from '../state/document.js';
import { DocumentSync } from '../state/document-sync.js';
import { type StagedCandidate, type StudioController, errorMessage } from '../state/studio.js';

// Project actions over StudioApi: the service keeps a copy of each open project (for saving,
// autosave and crash recovery); the UI keeps the editing state and hands it over.

/** The latest generation's candidates, shown again in the staging strip after opening. */
function lastCandidates(doc: ProjectDocument, assets: Readonly<Record<string, string>>): StagedCandidate[] {
  const generation = [...doc.generations].reverse().find((g) => g.candidates.length > 0);
  if (!generation) return [];
  // Images sent from the canvas are not kept in the stored request; variations run without them.
  const { init: _init, inpaint: _inpaint, controls: _controls, ...request } = generation.request;
  return generation.candidates.flatMap((c) => {
    // Candidates by reference show from the library; files before schema 2 kept a copy as a part.
    const url = c.image ? sourceUrl(c.image, assets) : libraryImageUrl(c.sha256);
    if (!url) return [];
    return [{ id: c.id, seed: c.seed, index: c.index, sha256: c.sha256, width: c.width, height: c.height, url, generationId: generation.id, request: { ...(request as unknown as GenerationRequestInput), seed: c.seed, batch: 1 } }];
  });
}

/** A fresh document gets a sketch layer and a scribble control layer that feeds it to the model. */
export function withStarterLayers(doc: ProjectDocument): ProjectDocument {
  if (doc.layers.length > 0) return doc;
  const sketch = createLayer('sketch', { strokes: [] });
  const control = createControlLayer({ controlType: 'scribble', sourceLayerId: sketch.id, name: 'Sketch as scribble' });
  return addLayer(addLayer(doc, sketch), control);
}

function adopt(studio: StudioController, session: DocumentSession, opened: OpenedProject, document = opened.snapshot.document, keepSettings = false): void {
  session.load(document, opened.snapshot.assets, opened.path, opened.sessionId);
  const favourites = new Set(document.generations.flatMap((g) => g.candidates.filter((c) => c.favourite).map((c) => c.id)));
  studio.store.set({ frame: document.frame ?? { x: 0, y: 0 }, staging: lastCandidates(document, opened.snapshot.assets), earlier: [], compare: [], favourites });
  // A new project keeps the panel as the artist left it; an opened one brings its own settings
  // (the panel edits the document's settings in their own shape).
  if (!keepSettings) studio.store.set({ settings: document.settings });
}

/** The sync that keeps the service's copy of `session` (the studio's own, or a one-off for a session it does not follow). */
function syncOf(studio: StudioController, session: DocumentSession): DocumentSync {
  const attached = studio.documentSync;
  return attached && attached.session === session ? attached : new DocumentSync({ api: studio.api, session, ui: studio.store });
}

export async function newProject(studio: StudioController, session: DocumentSession, width: number, height: number): Promise<void> {
  const previous = session.session.get().sessionId;
  const opened = await studio.attempt('Could not start a new project', () => studio.api.call('projects.new', { width, height }));
  if (!opened) return;
  adopt(studio, session, opened, withStarterLayers(opened.snapshot.document), true);
  // The new project is open either way; a session the service failed to close stays open there until it stops.
  if (previous) void studio.api.call('projects.close', { sessionId: previous }).catch(() => undefined);
  // At once rather than after the sync's quiet time: autosave covers the new project from the start.
  pushDocument(studio, session).catch((error: unknown) => studio.toast('error', `Autosave is not receiving changes: ${errorMessage(error)}`));
}

export async function openProject(studio: StudioController, session: DocumentSession, path: string): Promise<boolean> {
  const previous = session.session.get().sessionId;
  const opened = await studio.attempt('Could not open the project', () => studio.api.call('projects.open', { path }));
  if (!opened) return false;
  adoptOpened(studio, session, opened, previous);
  return true;
}

/** Shows a project the service opened (from a path, or from a browser upload) in place of the current one. */
export function adoptOpened(studio: StudioController, session: DocumentSession, opened: OpenedProject, previous = session.session.get().sessionId): void {
  adopt(studio, session, opened);
  if (opened.migratedFrom !== null) studio.toast('info', `Opened a version ${opened.migratedFrom} project; it will be saved in the current format`);
  // The opened project shows either way; a session the service failed to close stays open there until it stops.
  if (previous && previous !== opened.sessionId) void studio.api.call('projects.close', { sessionId: previous }).catch(() => undefined);
}

export async function recoverProject(studio: StudioController, session: DocumentSession, recoveryId: string): Promise<boolean> {
  const opened = await studio.attempt('Could not recover the project', () => studio.api.call('projects.recover', { recoveryId }));
  if (!opened) return false;
  adopt(studio, session, opened);
  studio.toast('info', 'Recovered the autosaved project');
  return true;
}

/** Hands the current document to the service now (exports and downloads work from its copy). */
export function pushDocument(studio: StudioController, session: DocumentSession): Promise<void> {
  return syncOf(studio, session).push();
}

export async function saveProject(studio: StudioController, session: DocumentSession, path?: string): Promise<boolean> {
  const { sessionId } = session.session.get();
  if (!sessionId) {
    studio.toast('error', 'The project is not connected to the studio; try New');
    return false;
  }
  const sync = syncOf(studio, session);
  try {
    let sent = session.doc;
    const saved = await sync.withUnsentAssets((assets) => {
      sent = session.doc;
      const document = sync.document();
      return path ? studio.api.call('projects.saveAs', { sessionId, path, document, assets }) : studio.api.call('projects.save', { sessionId, document, assets });
    });
    // Clean as of the copy written: edits made while it was saving stay unsaved.
    session.history.markSaved(sent);
    session.session.set({ path: saved.path });
    studio.toast('info', `Saved ${saved.path}`);
    return true;
  } catch (error) {
    studio.toast('error', `Could not save: ${errorMessage(error)}`);
    return false;
  }
}

export async function exportProject(studio: StudioController, session: DocumentSession, format: ExportFormat, out: string): Promise<boolean> {
  const { sessionId } = session.session.get();
  if (!sessionId) return false;
  try {
    await pushDocument(studio, session);
    const latest = [...session.doc.generations].reverse().find((g) => g.candidates.length > 0);
    if (format === 'contact-sheet' && !latest) throw new Error('there are no candidates to put on a contact sheet yet');
    const result = await studio.api.call('projects.export', { sessionId, format, out, ...(format === 'contact-sheet' && latest ? { generationId: latest.id } : {}) });
    studio.toast('info', `Exported ${result.out} (${Math.round(result.bytes / 1024)} KiB)`);
    return true;
  } catch (error) {
    studio.toast('error', `Could not export: ${errorMessage(error)}`);
    return false;
  }
}
