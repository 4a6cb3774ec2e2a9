import type { ExportFormat, GenerationRequestInput, OpenedProject, ProjectDocument } from '../../../app/contract/index.js';
import { addLayer, createControlLayer, createLayer } from '../state/doc-ops.js';
import { type DocumentSession } from '../state/document.js';
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
    const url = c.image ? assets[c.image.part] : undefined;
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
  studio.store.set({ frame: { x: 0, y: 0 }, staging: lastCandidates(document, opened.snapshot.assets), compare: [], favourites });
  // A new project keeps the panel as the artist left it; an opened one brings its own settings.
  if (keepSettings) return;
  const s = document.settings;
  studio.updateSettings({
    model: s.model,
    prompt: s.prompt,
    negativePrompt: s.negativePrompt,
    sampler: s.sampler,
    steps: s.steps,
    cfg: s.cfg,
    width: s.width ?? document.canvas.width,
    height: s.height ?? document.canvas.height,
    seed: s.seed,
    seedPolicy: s.randomSeed ? 'random' : 'fixed',
    batch: s.batch,
    strength: s.strength,
    maskBlur: s.maskBlur,
    onlyMasked: s.onlyMasked,
    maskPadding: s.maskPadding,
  });
  // The new project is open either way; a session the service failed to close stays open there until it stops.
}

export async function newProject(studio: StudioController, session: DocumentSession, width: number, height: number): Promise<void> {
  const previous = session.session.get().sessionId;
  const opened = await studio.attempt('Could not start a new project', () => studio.api.call('projects.new', { width, height }));
  if (!opened) return;
  adopt(studio, session, opened, withStarterLayers(opened.snapshot.document), true);
  if (previous) void studio.api.call('projects.close', { sessionId: previous }).catch(() => undefined);
  void pushDocument(studio, session);
}

export async function openProject(studio: StudioController, session: DocumentSession, path: string): Promise<boolean> {
  const previous = session.session.get().sessionId;
  const opened = await studio.attempt('Could not open the project', () => studio.api.call('projects.open', { path }));
  if (!opened) return false;
  adoptOpened(studio, session, opened, previous);
  // The opened project shows either way; a session the service failed to close stays open there until it stops.
  return true;
}

/** Shows a project the service opened (from a path, or from a browser upload) in place of the current one. */
export function adoptOpened(studio: StudioController, session: DocumentSession, opened: OpenedProject, previous = session.session.get().sessionId): void {
  adopt(studio, session, opened);
  if (opened.migratedFrom !== null) studio.toast('info', `Opened a version ${opened.migratedFrom} project; it will be saved in the current format`);
  if (previous && previous !== opened.sessionId) void studio.api.call('projects.close', { sessionId: previous }).catch(() => undefined);
}

export async function recoverProject(studio: StudioController, session: DocumentSession, recoveryId: string): Promise<boolean> {
  const opened = await studio.attempt('Could not recover the project', () => studio.api.call('projects.recover', { recoveryId }));
  if (!opened) return false;
  adopt(studio, session, opened);
  studio.toast('info', 'Recovered the autosaved project');
  return true;
}

/** The document as the panel has it: settings follow the prompt panel. */
function currentDocument(studio: StudioController, session: DocumentSession): ProjectDocument {
  const s = studio.state.settings;
  return {
    ...session.doc,
    settings: {
      ...session.doc.settings,
      model: s.model,
      prompt: s.prompt,
      negativePrompt: s.negativePrompt,
      sampler: s.sampler,
      steps: s.steps,
      cfg: s.cfg,
      width: s.width,
      height: s.height,
      seed: s.seed,
      randomSeed: s.seedPolicy === 'random',
      batch: s.batch,
      strength: s.strength,
      maskBlur: s.maskBlur,
      onlyMasked: s.onlyMasked,
      maskPadding: s.maskPadding,
    },
  };
}

/** Hands the current document to the service (autosave and recovery work from it). */
export async function pushDocument(studio: StudioController, session: DocumentSession): Promise<void> {
  const sessionId = session.session.get().sessionId;
  if (!sessionId) return;
  const assets = session.takeUnsentAssets();
  try {
    const { dirty } = await studio.api.call('projects.update', { sessionId, document: currentDocument(studio, session), assets });
    // Taken after the service answered: an autosave that started before it took this copy
    // carries an earlier time, so the indicator waits for the next one. Only a dirty copy is
    // autosaved; a clean one needs no recovery.
    if (dirty) session.session.set({ pushedAt: new Date().toISOString() });
  } catch (error) {
    session.forgetSent(Object.keys(assets));
    throw error;
  }
}

export async function saveProject(studio: StudioController, session: DocumentSession, path?: string): Promise<boolean> {
  const { sessionId } = session.session.get();
  if (!sessionId) {
    studio.toast('error', 'The project is not connected to the studio; try New');
    return false;
  }
  const document = currentDocument(studio, session);
  const assets = session.takeUnsentAssets();
  try {
    const saved = path
      ? await studio.api.call('projects.saveAs', { sessionId, path, document, assets })
      : await studio.api.call('projects.save', { sessionId, document, assets });
    session.history.markSaved(session.doc);
    session.session.set({ path: saved.path });
    studio.toast('info', `Saved ${saved.path}`);
    return true;
  } catch (error) {
    session.forgetSent(Object.keys(assets));
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
