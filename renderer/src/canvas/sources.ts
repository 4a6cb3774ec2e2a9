import type { ControlType, ModelEntry } from '../../../app/contract/index.js';
import { type ControlLayer, type Layer, type ProjectDocument, turnedBounds } from '../../../app/projects/document/index.js';
import type { Rect } from './viewport.js';

// What a generation reads from the canvas (docs/canvas.md, What is generated from), decided without pixels:
// which layers make a control map, which make the init image, which ControlNet a control layer
// goes to and whether that ControlNet takes its kind of map, and which mode a press of
// Generate means. request-images.ts renders what these choose.

/** Layers whose content is marks: brush strokes and shapes. */
const MARK_KINDS: ReadonlySet<Layer['kind']> = new Set(['sketch', 'shapes']);
/** Layers whose pixels are the picture: paint, references and imported pictures, accepted candidates. */
const PICTURE_KINDS: ReadonlySet<Layer['kind']> = new Set(['paint', 'reference', 'generated']);

/**
 * The layers a control layer renders. A sketch is every mark: a control layer reading a
 * sketch or shapes layer reads all visible sketch and shapes layers, in their order, so a
 * horizon drawn with the line tool guides like one drawn with the brush. Any other source is
 * rendered as it is.
 */
export function controlSourceLayers(doc: ProjectDocument, control: ControlLayer): Layer[] {
  const source = control.sourceLayerId ? doc.layers.find((l) => l.id === control.sourceLayerId) : undefined;
  if (!source) return [];
  if (!MARK_KINDS.has(source.kind)) return [source];
  return doc.layers.filter((l) => MARK_KINDS.has(l.kind) && (l.visible || l.id === source.id));
}

/** Whether marks layers hold anything to draw. */
export function hasMarks(layers: readonly Layer[]): boolean {
  return layers.some((l) => (l.kind === 'sketch' && l.strokes.length > 0) || (l.kind === 'shapes' && l.shapes.length > 0));
}

/**
 * The kind of control map a ControlNet was trained on, as the engine read it from the
 * ControlNet's config.json (ModelInfo.controlnetTypes; the starter's says scribble). null:
 * unknown (a ControlNet the model does not ship, or one that does not say), sent as set.
 */
export function controlnetTakes(controlnet: string, model: ModelEntry | undefined): ControlType | null {
  const types = model?.info?.controlnetTypes;
  if (!types) return null;
  const folder = controlnet.replace(/[\\/]+$/, '');
  return types[folder] ?? types[controlnet] ?? null;
}

/**
 * The ControlNet a control layer uses: its own, else one the chosen model ships, else the
 * `controlnet/` folder inside a model whose UNet takes ControlNet residuals (the diffusers
 * ControlNet pipeline layout, which the bundled starter model follows).
 */
export function controlnetFor(control: ControlLayer, model: ModelEntry | undefined): string | undefined {
  if (control.model) return control.model;
  const info = model?.info;
  if (!model || !info) return undefined;
  return info.controlnets[0] ?? (info.acceptsControlnet ? `${model.path.replace(/[\\/]+$/, '')}/controlnet` : undefined);
}

/** Why a control layer is not sent with the chosen model, or null when it is. */
export function controlWarning(control: ControlLayer, model: ModelEntry | undefined): string | null {
  if (!model) return null;
  const controlnet = controlnetFor(control, model);
  if (!controlnet) return `${model.name} has no ControlNet: “${control.name}” is not used`;
  const takes = controlnetTakes(controlnet, model);
  if (takes && takes !== control.controlType) return `${model.name}'s ControlNet takes ${takes} maps, not ${control.controlType}: “${control.name}” is not used`;
  return null;
}

/** The layers of the init image: everything visible the artist sees, bar masks and control layers. */
export function pictureLayers(doc: ProjectDocument): Layer[] {
  return doc.layers.filter((l) => l.visible && l.opacity > 0 && (PICTURE_KINDS.has(l.kind) || MARK_KINDS.has(l.kind)));
}

function overlaps(a: Rect, b: Rect): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** Whether a picture layer (not a mark: marks guide, they are not a picture to start from) shows inside the frame. */
export function frameHasPicture(doc: ProjectDocument, frame: Rect): boolean {
  return doc.layers.some((l) => l.visible && l.opacity > 0 && PICTURE_KINDS.has(l.kind) && 'x' in l && overlaps(frame, l.kind === 'mask' ? l : turnedBounds(l)));
}

/** What a press of Generate does with the canvas. */
export type GenerationMode = 'sketch' | 'canvas' | 'inpaint' | 'extend';
export type ModeChoice = 'auto' | GenerationMode;

/** Short names for the mode control, and what each does (its tooltip). */
export const MODE_LABELS: Record<ModeChoice, { label: string; title: string }> = {
  auto: { label: 'Auto', title: 'An empty frame generates from the sketch, a picture is refined, a painted mask is filled' },
  sketch: { label: 'From sketch', title: 'Text to image, guided by the control layers' },
  canvas: { label: 'From canvas', title: 'Image to image from what the frame shows, at the strength set' },
  inpaint: { label: 'Fill mask', title: 'Inpaint where the mask is painted' },
  extend: { label: 'Extend', title: 'Outpaint: fill the part of the frame past the canvas, continuing its edges' },
};

/**
 * The automatic choice: a frame reaching past the canvas over a picture extends it; a painted
 * mask over a picture fills the mask; a picture in the frame is refined from; an empty frame
 * (marks only) is generated from the sketch. A choice that cannot apply falls back to what can
 * (extending a frame inside the canvas, inpainting without a picture or a mask, img2img from
 * an empty frame).
 */
export function resolveMode(choice: ModeChoice, facts: { picture: boolean; mask: boolean; outside?: boolean }): GenerationMode {
  if (choice === 'extend' && facts.outside && facts.picture) return 'extend';
  if (choice === 'inpaint' || choice === 'extend') return facts.mask ? 'inpaint' : facts.picture ? 'canvas' : 'sketch';
  if (choice === 'canvas') return 'canvas';
  if (choice === 'sketch') return 'sketch';
  if (facts.outside && facts.picture) return 'extend';
  return facts.mask && facts.picture ? 'inpaint' : facts.picture ? 'canvas' : 'sketch';
}
