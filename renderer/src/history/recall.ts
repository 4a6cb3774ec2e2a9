import type { ControlInput, ImageRef, RecallResult } from '../../../app/contract/index.js';
import { type Layer, type ProjectDocument, addLayer, createControlLayer, createLayer, setLayerProperties } from '../../../app/projects/document/index.js';
import { libraryImageUrl } from '../api/media.js';
import { generationMode } from '../canvas/mode.js';
import { loadImage, makeCanvas } from '../canvas/raster.js';
import { type DocumentSession } from '../state/document.js';
import { settingsFromRequest } from '../state/settings.js';
import { type StudioController, errorMessage } from '../state/studio.js';

// Recall from the history (docs: issue 15, history that helps): the settings, and the init
// image, mask and control maps the entry used, back on the canvas at the generation frame,
// so that Generate makes the same request again — inpainting included, not only prompt and
// seed. The recalled inputs are a new branch of the picture: one undo step adds them and
// hides the masks and controls that were active (hidden, not deleted).

interface Placement {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * PNG data URL of a library image, drawn through a canvas so that it is a part like any
 * other. With `onCanvas`, the image is placed at `at` on a clear picture of the canvas's size
 * (a control layer's own map covers the whole canvas: canvas/request-images.ts, which renders
 * it over black, so clear outside the frame is what the map had there).
 */
async function libraryPart(sha256: string, map?: (data: Uint8ClampedArray) => void, onCanvas?: { width: number; height: number; at: Placement }): Promise<string> {
  const img = await loadImage(libraryImageUrl(sha256));
  const { canvas, ctx } = makeCanvas(onCanvas?.width ?? img.naturalWidth, onCanvas?.height ?? img.naturalHeight);
  if (onCanvas) {
    ctx.drawImage(img, onCanvas.at.x, onCanvas.at.y, onCanvas.at.width, onCanvas.at.height);
  } else ctx.drawImage(img, 0, 0);
  if (map) {
    const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
    map(pixels.data);
    ctx.putImageData(pixels, 0, 0);
  }
  return canvas.toDataURL('image/png');
}

/**
 * A stored mask is white-on-black (white = repaint); a mask layer paints white over clear
 * canvas, and the request renders it over black. Luminance becomes coverage, so rendering
 * the layer gives the stored mask back.
 */
function maskToCoverage(data: Uint8ClampedArray): void {
  for (let i = 0; i < data.length; i += 4) {
    const lum = Math.round(0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!);
    data[i] = 255;
    data[i + 1] = 255;
    data[i + 2] = 255;
    data[i + 3] = lum;
  }
}

function hashOf(ref: ImageRef | undefined): string | undefined {
  return ref && 'sha256' in ref ? ref.sha256 : undefined;
}

/** What a recall puts back on the canvas besides the settings. */
export interface RecalledInputs {
  init: boolean;
  mask: boolean;
  controls: number;
}

/**
 * Recalls a history entry (a generation, or one candidate with its own seed) into the prompt
 * panel and onto the canvas. Returns what was restored; failures are toasts.
 */
export async function recallEntry(studio: StudioController, session: DocumentSession, id: string): Promise<RecalledInputs | undefined> {
  let result: RecallResult;
  try {
    result = await studio.api.call('library.recall', { id });
  } catch (error) {
    studio.toast('error', `Recall failed: ${errorMessage(error)}`);
    return undefined;
  }
  const request = result.request;
  studio.updateSettings(settingsFromRequest(studio.state.settings, request));
  for (const w of result.warnings) studio.toast('info', w);
  const { frame, settings } = studio.state;
  const place = { x: frame.x, y: frame.y, width: settings.width, height: settings.height };
  const added: Layer[] = [];
  try {
    const init = hashOf(request.init);
    if (init) added.push(createLayer('reference', { name: 'Recalled init', image: session.addAsset(await libraryPart(init)), ...place, source: `library ${init.slice(0, 12)}` }));
    const mask = hashOf(request.inpaint?.mask);
    if (mask) added.push(createLayer('mask', { name: 'Recalled mask', image: session.addAsset(await libraryPart(mask, maskToCoverage)), ...place, colour: '#ff3366' }));
    for (const control of request.controls) {
      const sha = hashOf(control.image);
      if (sha) added.push(recalledControl(control, session.addAsset(await libraryPart(sha, undefined, { ...session.doc.canvas, at: place }))));
    }
  } catch (error) {
    studio.toast('error', `Recall could not restore the entry's images: ${errorMessage(error)}`);
    return undefined;
  }
  if (added.length > 0) {
    session.history.change((doc) => withRecalled(doc, added), 'Recall from history');
    session.history.select([added[added.length - 1]!.id]);
  }
  // Generate does what the entry did: from the sketch, from the recalled init, or filling the recalled mask.
  generationMode.set({ choice: request.inpaint ? 'inpaint' : request.init ? 'canvas' : 'sketch' });
  studio.store.set({ view: 'canvas' });
  return { init: added.some((l) => l.kind === 'reference'), mask: added.some((l) => l.kind === 'mask'), controls: added.filter((l) => l.kind === 'control').length };
}

function recalledControl(control: ControlInput, image: { part: string }): Layer {
  return createControlLayer({
    name: `Recalled ${control.type}`,
    // Shown faintly over the picture; the request takes the map itself, whatever the opacity.
    opacity: 0.35,
    controlType: control.type,
    model: control.model,
    preprocess: control.preprocess,
    weight: control.weight,
    start: control.start,
    end: control.end,
    cannyLow: control.cannyLow,
    cannyHigh: control.cannyHigh,
    image,
  });
}

/**
 * The recalled layers on top, with the masks and controls that were active hidden, so the
 * next Generate sees exactly the recalled inputs. Picture layers stay as they are; the
 * recalled init covers the frame above them.
 */
function withRecalled(doc: ProjectDocument, added: readonly Layer[]): ProjectDocument {
  const recallsMask = added.some((l) => l.kind === 'mask');
  let next = doc;
  for (const layer of doc.layers) {
    if (!layer.visible) continue;
    if (layer.kind === 'control' || (layer.kind === 'mask' && recallsMask)) next = setLayerProperties(next, layer.id, { visible: false });
  }
  for (const layer of added) next = addLayer(next, layer);
  return next;
}
