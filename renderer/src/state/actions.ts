import type { GenerationRequestInput, ImageRef, ModelEntry } from '../../../app/contract/index.js';

type ControlInput = NonNullable<GenerationRequestInput['controls']>[number];
import {
  type Candidate,
  type Layer,
  addGeneration,
  addLayer,
  createControlLayer,
  createLayer,
  findCandidate,
  setFavourite,
  modeOfRequest,
  requestForDocument,
} from './doc-ops.js';
import { generationMode } from '../canvas/mode.js';
import { toPngDataUrl } from '../canvas/raster.js';
import { frameOutside, growToInclude } from '../canvas/outpaint.js';
import { type CanvasView, renderControls, renderInit, renderMask, renderOutpaint, renderRegions } from '../canvas/request-images.js';
import { frameHasPicture, resolveMode } from '../canvas/sources.js';
import { type DocumentSession } from './document.js';
import { captureForJob, keepSnapshot } from '../history/branches.js';
import { type GenerationInputs, type JobView, type StagedCandidate, type StudioController, errorMessage } from './studio.js';

// What the artist's buttons do with the canvas: render layers to the images a request needs,
// queue it, file the candidates into the document, accept, refine, vary.

function frameOf(studio: StudioController) {
  const { frame, settings } = studio.state;
  return { x: frame.x, y: frame.y, width: settings.width, height: settings.height };
}

function outSize(studio: StudioController) {
  return { width: studio.state.settings.width, height: studio.state.settings.height };
}

function chosenModel(studio: StudioController): ModelEntry | undefined {
  return studio.state.models.find((m) => m.id === studio.state.settings.model);
}

/** The canvas as a request sees it: the document, its pixels, the frame and the generation size. */
function canvasView(studio: StudioController, session: DocumentSession): CanvasView {
  return { doc: session.doc, assets: session.assets, frame: frameOf(studio), out: outSize(studio) };
}

/** The control maps of the visible control layers; a layer the model's ControlNet cannot take is named in a toast, not sent. */
export async function controlInputs(studio: StudioController, session: DocumentSession): Promise<ControlInput[]> {
  const { controls, skipped } = await renderControls(canvasView(studio, session), chosenModel(studio));
  for (const why of skipped) studio.toast('info', why);
  return controls;
}

/**
 * What Generate sends from the canvas: what the mode control says (docs/canvas.md) —
 * from the sketch (txt2img with the control maps), from the canvas (img2img of what the frame
 * shows, at the panel's strength), or filling the painted mask (inpaint); automatic by
 * default. Live mode previews the same inputs.
 */
export async function canvasInputs(studio: StudioController, session: DocumentSession): Promise<{ inputs: GenerationInputs; mask?: { layerId: string; part: string } }> {
  const view = canvasView(studio, session);
  const controls = await controlInputs(studio, session);
  const mask = await renderMask(view);
  const regions = await renderRegions(view);
  const mode = resolveMode(generationMode.get().choice, { picture: frameHasPicture(view.doc, view.frame), mask: mask !== undefined, outside: frameOutside(view.doc, view.frame) });
  if (mode === 'sketch') return { inputs: { controls, regions, projectId: session.doc.id } };
  if (mode === 'extend') {
    // The engine's mask feather reaches ceil(3σ) pixels: kept off the canvas's own pixels.
    const { init, mask: outside } = await renderOutpaint(view, Math.ceil(3 * studio.state.settings.maskBlur) + 1);
    return { inputs: { init: { png: init }, mask: { png: outside }, controls, regions, projectId: session.doc.id } };
  }
  // Strength and the mask options come from the settings, through requestFromSettings.
  const init: ImageRef = { png: await renderInit(view) };
  const inpaint = mode === 'inpaint' && mask;
  const inputs: GenerationInputs = { init, controls, regions, projectId: session.doc.id, ...(inpaint ? { mask: { png: mask.png } } : {}) };
  return inpaint && 'part' in mask.layer.image ? { inputs, mask: { layerId: mask.layer.id, part: mask.layer.image.part } } : { inputs };
}

export async function generateFromCanvas(studio: StudioController, session: DocumentSession): Promise<string | undefined> {
  // The panel as it is now: edits made while the canvas renders belong to the next run.
  const settings = studio.state.settings;
  try {
    const { inputs, mask } = await canvasInputs(studio, session);
    const jobId = await studio.generate(inputs, 'generate', settings);
    if (jobId) captureForJob(jobId, studio, session);
    if (jobId && mask) pendingMasks.set(jobId, mask);
    return jobId;
  } catch (error) {
    studio.toast('error', `Could not prepare the generation: ${errorMessage(error)}`);
    return undefined;
  }
}

/**
 * Refine a candidate: the canvas under the frame as the artist sees it (with its paint-overs)
 * is the init image, not the stored candidate alone; img2img, or inpainting where the mask is
 * painted. A candidate not yet on the canvas is refined as if accepted: placed at the frame,
 * under whatever is painted over the picture.
 */
export async function refineCandidate(studio: StudioController, session: DocumentSession, candidate: StagedCandidate): Promise<string | undefined> {
  const settings = studio.state.settings;
  try {
    const view = canvasView(studio, session);
    const controls = await controlInputs(studio, session);
    const mask = await renderMask(view);
    const onCanvas = view.doc.layers.some((l) => l.kind === 'generated' && l.candidateId === candidate.id && l.visible);
    // Drawn from its library URL for this render only: nothing is added to the project.
    const part = 'parts/refined-candidate.png';
    const extra: Layer[] = onCanvas ? [] : [createLayer('reference', { name: 'candidate', image: { part }, ...view.frame, source: null })];
    const inputs: GenerationInputs = {
      init: { png: await renderInit(onCanvas ? view : { ...view, assets: { ...view.assets, [part]: candidate.url } }, extra) },
      controls,
      regions: await renderRegions(view),
      parentCandidateId: candidate.id,
      projectId: session.doc.id,
      ...(mask ? { mask: { png: mask.png } } : {}),
    };
    const jobId = await studio.generate(inputs, 'refine', settings);
    if (jobId) captureForJob(jobId, studio, session);
    if (jobId && mask && 'part' in mask.layer.image) pendingMasks.set(jobId, { layerId: mask.layer.id, part: mask.layer.image.part });
    return jobId;
  } catch (error) {
    studio.toast('error', `Could not prepare the refinement: ${errorMessage(error)}`);
    return undefined;
  }
}

/**
 * Variations of a candidate: its generation's request as the library stored it, where the
 * init image, mask and control maps are named by hash, so the variations keep all of them;
 * linked to the candidate as their parent (docs: issue 15). A generation the library lacks
 * (an older project file's) varies the request the strip holds, said in a toast.
 */
export async function variations(studio: StudioController, candidate: StagedCandidate): Promise<string | undefined> {
  let stored: GenerationRequestInput = candidate.request;
  try {
    const record = await studio.api.call('library.get', { id: candidate.generationId });
    if (record.request) stored = record.request;
  } catch (error) {
    studio.toast('info', `Variations use the strip's copy of the request (${errorMessage(error)}): canvas images are not in it`);
  }
  return studio.vary(stored, candidate);
}

/** Which mask (layer and immutable part) a refinement job used, for the iteration tree. */
const pendingMasks = new Map<string, { layerId: string; part: string }>();

/**
 * Files a completed generation into the document (not an undo step): its request, mode,
 * parent candidate and the mask it used, and the candidates. Their pixels are the library's:
 * the document names them by hash (the service reads them itself when it saves), so nothing
 * is downloaded here or sent back.
 */
export function recordGeneration(session: DocumentSession, generationId: string, staged: readonly StagedCandidate[], job: JobView | undefined): void {
  const request = job?.request ?? staged[0]?.request;
  if (!request) return;
  const candidates: Candidate[] = staged.map((c) => ({ id: c.id, index: c.index, seed: c.seed, sha256: c.sha256, width: c.width, height: c.height, image: { sha256: c.sha256 }, favourite: false }));
  const mask = job ? pendingMasks.get(job.jobId) : undefined;
  if (job) pendingMasks.delete(job.jobId);
  // The document it ran from, kept in the library so the tree node can be restored whole.
  if (job) keepSnapshot(job.jobId, generationId);
  const parent = request.parentCandidateId && findCandidate(session.doc, request.parentCandidateId) ? request.parentCandidateId : null;
  session.history.applyRemote((doc) =>
    addGeneration(doc, {
      id: generationId,
      createdAt: new Date().toISOString(),
      mode: modeOfRequest(request),
      request: requestForDocument(request),
      parentCandidateId: parent,
      maskLayerId: mask?.layerId ?? null,
      maskSnapshot: mask ? { part: mask.part } : null,
      candidates,
    }),
  );
}

/**
 * Accept: the candidate goes onto the canvas as a new layer at the generation frame
 * (undoable), showing the candidate's own pixels: the library image, or the copy an older
 * project file kept.
 */
export function acceptCandidate(studio: StudioController, session: DocumentSession, candidate: StagedCandidate): void {
  try {
    const image = findCandidate(session.doc, candidate.id)?.candidate.image ?? { sha256: candidate.sha256 };
    const f = frameOf(studio);
    // A frame past the canvas (an outpainting) grows the canvas to hold the result, in the
    // same undo step; growing left or up shifts everything, the frame too (outpaint.ts).
    const { dx, dy } = growToInclude(session.doc, f);
    const layer = createLayer('generated', {
      name: `Seed ${candidate.seed}`,
      image,
      x: f.x + dx,
      y: f.y + dy,
      width: f.width,
      height: f.height,
      generationId: candidate.generationId,
      candidateId: candidate.id,
    });
    session.history.change((doc) => {
      const grown = growToInclude(doc, f).doc;
      return addLayer(grown, layer, topmostContentIndex(grown.layers));
    }, frameOutside(session.doc, f) ? 'Accept and extend the canvas' : 'Accept candidate');
    if (dx !== 0 || dy !== 0) {
      studio.store.set({ frame: { x: f.x + dx, y: f.y + dy } });
      session.history.applyRemote((doc) => ({ ...doc, frame: { x: f.x + dx, y: f.y + dy } }));
    }
    session.history.select([layer.id]);
    // The layer is on the canvas already; marking it accepted in the history is a convenience that may fail quietly.
    void studio.api.call('library.rate', { candidateId: candidate.id, accepted: true }).catch(() => undefined);
  } catch (error) {
    studio.toast('error', `Could not accept the candidate: ${errorMessage(error)}`);
  }
}

/** Live mode's preview kept as a layer: its pixels as a new paint layer at the frame (undoable). */
export function keepLiveAsLayer(studio: StudioController, session: DocumentSession): void {
  const live = studio.state.live;
  if (!live) return;
  try {
    const image = session.addAsset(live.url);
    const layer = createLayer('paint', { name: `Live preview #${live.seed}`, image, ...frameOf(studio) });
    session.history.change((doc) => addLayer(doc, layer, topmostContentIndex(doc.layers)), 'Keep live preview');
    session.history.select([layer.id]);
  } catch (error) {
    studio.toast('error', `Could not keep the preview: ${errorMessage(error)}`);
  }
}

/** Favourite: marked in the project and in the library (so history can filter by it). */
export async function favourite(studio: StudioController, session: DocumentSession, candidate: StagedCandidate): Promise<void> {
  const on = !studio.state.favourites.has(candidate.id);
  studio.toggleFavourite(candidate.id);
  if (findCandidate(session.doc, candidate.id)) session.history.applyRemote((doc) => setFavourite(doc, candidate.id, on));
  await studio.attempt('Could not mark the favourite in the history', () => studio.api.call('library.rate', { candidateId: candidate.id, favourite: on }));
}

/** Below masks and control layers, so overlays stay on top of accepted images. */
export function topmostContentIndex(layers: readonly Layer[]): number {
  let index = layers.length;
  while (index > 0 && (layers[index - 1]?.kind === 'mask' || layers[index - 1]?.kind === 'control')) index--;
  return index;
}

/** Drop or paste: an image becomes a reference layer, fitted inside the canvas. */
export async function addReferenceImage(studio: StudioController, session: DocumentSession, src: string, name: string): Promise<void> {
  try {
    const { dataUrl, width, height } = await toPngDataUrl(src);
    const { width: cw, height: ch } = session.doc.canvas;
    const scale = Math.min(1, cw / width, ch / height);
    const image = session.addAsset(dataUrl);
    const layer = createLayer('reference', { name, image, x: 0, y: 0, width: Math.round(width * scale), height: Math.round(height * scale), source: name });
    session.history.change((doc) => addLayer(doc, layer), 'Add reference image');
    session.history.select([layer.id]);
  } catch (error) {
    studio.toast('error', `Could not add the image: ${errorMessage(error)}`);
  }
}

/** A sketch layer used as a scribble ControlNet input. */
export function scribbleFromSketch(session: DocumentSession, sketchId: string): void {
  const control = createControlLayer({ controlType: 'scribble', sourceLayerId: sketchId, name: 'Scribble control' });
  session.history.change((doc) => addLayer(doc, control), 'Add scribble control');
}

/** An image layer turned into Canny edges (the engine computes them with these thresholds). */
export function cannyFromLayer(session: DocumentSession, sourceId: string, low: number, high: number): void {
  const control = createControlLayer({ controlType: 'canny', sourceLayerId: sourceId, preprocess: 'canny', name: 'Canny control', cannyLow: low, cannyHigh: high });
  session.history.change((doc) => addLayer(doc, control), 'Add canny control');
}
