import {
  type Candidate,
  type ControlLayer,
  type Generation,
  GenerationSettings,
  type GenerationSettingsInput,
  type Layer,
  type LayerKind,
  PROJECT_SCHEMA_VERSION,
  type ProjectDocument,
  type RasterRef,
  type Shape,
  type Stroke,
} from '../../contract/projects.js';
import { DocumentError } from './errors.js';

// Document operations: `(doc, …) → doc`, pure and immutable. Unchanged parts keep their
// identity, so History's diff between the result and its input is cheap and the renderer can
// skip re-drawing layers whose object did not change.

/** A fresh id (random, URL- and file-name-safe). Pass explicit ids where determinism matters. */
export function newId(prefix = ''): string {
  const uuid = globalThis.crypto.randomUUID().replaceAll('-', '');
  return `${prefix}${uuid.slice(0, 16)}`;
}

export interface NewDocumentOptions {
  width: number;
  height: number;
  name?: string;
  background?: string;
  settings?: GenerationSettingsInput;
  id?: string;
  createdAt?: string;
}

export function createDocument(options: NewDocumentOptions): ProjectDocument {
  return {
    schemaVersion: PROJECT_SCHEMA_VERSION,
    id: options.id ?? newId('p'),
    name: options.name ?? 'Untitled',
    canvas: { width: options.width, height: options.height, background: options.background ?? '#ffffff' },
    layers: [],
    settings: GenerationSettings.parse({ ...generationSizeFor(options.width, options.height), ...options.settings }),
    generations: [],
    createdAt: options.createdAt ?? new Date().toISOString(),
  };
}

/**
 * The canvas size as the generation size when it is one a model can make (64..4096, multiples
 * of 8, as GenerationRequest requires); otherwise the model's default is left to apply.
 */
export function generationSizeFor(width: number, height: number): { width?: number; height?: number } {
  const ok = (v: number) => Number.isInteger(v) && v >= 64 && v <= 4096 && v % 8 === 0;
  return ok(width) && ok(height) ? { width, height } : {};
}

type LayerOf<K extends LayerKind> = Extract<Layer, { kind: K }>;
/** What createLayer needs beyond the defaults: the kind-specific content. */
type LayerInit<K extends LayerKind> = Omit<LayerOf<K>, 'id' | 'kind' | 'name' | 'visible' | 'locked' | 'opacity'> &
  Partial<Pick<LayerOf<K>, 'id' | 'name' | 'visible' | 'locked' | 'opacity'>>;

const DEFAULT_NAMES: Record<LayerKind, string> = {
  sketch: 'Sketch',
  shapes: 'Shapes',
  paint: 'Paint',
  reference: 'Reference',
  mask: 'Mask',
  control: 'Control',
  generated: 'Generated',
};

/** A new layer of a kind with visible, unlocked, opaque defaults. */
export function createLayer<K extends LayerKind>(kind: K, init: LayerInit<K>): LayerOf<K> {
  return {
    id: newId('l'),
    name: DEFAULT_NAMES[kind],
    visible: true,
    locked: false,
    opacity: kind === 'mask' ? 0.5 : 1,
    ...init,
    kind,
  } as unknown as LayerOf<K>;
}

/** A control layer with the engine's ControlInput defaults (weight 1, acting on all steps). */
export function createControlLayer(
  init: Pick<ControlLayer, 'controlType'> & Partial<Omit<ControlLayer, 'kind' | 'controlType'>>,
): ControlLayer {
  return createLayer('control', {
    model: null,
    preprocess: init.controlType === 'scribble' ? 'scribble' : init.controlType === 'canny' ? 'canny' : 'none',
    weight: 1,
    start: 0,
    end: 1,
    image: null,
    sourceLayerId: null,
    cannyLow: 100,
    cannyHigh: 200,
    ...init,
  });
}

export function findLayer(doc: ProjectDocument, layerId: string): Layer | undefined {
  return doc.layers.find((layer) => layer.id === layerId);
}

function requireLayer(doc: ProjectDocument, layerId: string): Layer {
  const layer = findLayer(doc, layerId);
  if (!layer) throw new DocumentError(`No layer with id "${layerId}"`);
  return layer;
}

function requireKind<K extends LayerKind>(doc: ProjectDocument, layerId: string, kinds: readonly K[]): LayerOf<K> {
  const layer = requireLayer(doc, layerId);
  if (!(kinds as readonly LayerKind[]).includes(layer.kind)) {
    throw new DocumentError(`Layer "${layer.name}" is a ${layer.kind} layer, not ${kinds.join(' or ')}`);
  }
  return layer as LayerOf<K>;
}

/** Content edits on a locked layer are refused (visibility, opacity, name and lock stay editable). */
function requireUnlocked<L extends Layer>(layer: L): L {
  if (layer.locked) throw new DocumentError(`Layer "${layer.name}" is locked`);
  return layer;
}

function replaceLayer(doc: ProjectDocument, layer: Layer): ProjectDocument {
  return { ...doc, layers: doc.layers.map((l) => (l.id === layer.id ? layer : l)) };
}

/** Adds a layer; `index` counts from the bottom (default: on top). */
export function addLayer(doc: ProjectDocument, layer: Layer, index = doc.layers.length): ProjectDocument {
  if (findLayer(doc, layer.id)) throw new DocumentError(`A layer with id "${layer.id}" already exists`);
  if (!Number.isInteger(index) || index < 0 || index > doc.layers.length) throw new DocumentError(`Layer position ${index} is outside 0..${doc.layers.length}`);
  const layers = doc.layers.slice();
  layers.splice(index, 0, layer);
  return { ...doc, layers };
}

/**
 * Removes a layer. Control layers that rendered it go with it (they would have nothing to
 * render); one undo brings both back.
 */
export function removeLayer(doc: ProjectDocument, layerId: string): ProjectDocument {
  requireLayer(doc, layerId);
  return { ...doc, layers: doc.layers.filter((l) => l.id !== layerId && !(l.kind === 'control' && l.sourceLayerId === layerId)) };
}

/** Moves a layer to `index` (from the bottom) in the resulting order. */
export function moveLayer(doc: ProjectDocument, layerId: string, index: number): ProjectDocument {
  const layer = requireLayer(doc, layerId);
  if (!Number.isInteger(index) || index < 0 || index >= doc.layers.length) throw new DocumentError(`Layer position ${index} is outside 0..${doc.layers.length - 1}`);
  const layers = doc.layers.filter((l) => l.id !== layerId);
  layers.splice(index, 0, layer);
  return { ...doc, layers };
}

/** Per-layer properties that stay editable on a locked layer. */
export interface LayerProperties {
  name?: string;
  visible?: boolean;
  locked?: boolean;
  opacity?: number;
}

export function setLayerProperties(doc: ProjectDocument, layerId: string, props: LayerProperties): ProjectDocument {
  const layer = requireLayer(doc, layerId);
  if (props.opacity !== undefined && !(props.opacity >= 0 && props.opacity <= 1)) throw new DocumentError(`Opacity ${props.opacity} is outside 0..1`);
  const next = { ...layer };
  if (props.name !== undefined) next.name = props.name;
  if (props.visible !== undefined) next.visible = props.visible;
  if (props.locked !== undefined) next.locked = props.locked;
  if (props.opacity !== undefined) next.opacity = props.opacity;
  return replaceLayer(doc, next);
}

/**
 * Changes a layer's kind-specific content (placement, control weight, mask colour…). Refused on
 * a locked layer. `id` and `kind` cannot change.
 */
export function updateLayer<K extends LayerKind>(
  doc: ProjectDocument,
  layerId: string,
  kind: K,
  changes: Partial<Omit<LayerOf<K>, 'id' | 'kind'>>,
): ProjectDocument {
  const layer = requireUnlocked(requireKind(doc, layerId, [kind]));
  const next = { ...layer, ...changes, id: layer.id, kind: layer.kind } as Layer;
  if (next.kind === 'control') {
    if (next.start > next.end) throw new DocumentError('Control start must not exceed end');
    checkCannyThresholds(next.cannyLow, next.cannyHigh);
  }
  return replaceLayer(doc, next);
}

function checkCannyThresholds(low: number, high: number): void {
  for (const [name, v] of [['low', low], ['high', high]] as const) {
    if (!(v >= 0 && v <= 255)) throw new DocumentError(`Canny ${name} threshold ${v} is outside 0..255`);
  }
  if (low > high) throw new DocumentError(`The Canny low threshold ${low} exceeds the high threshold ${high}`);
}

/** The Canny thresholds the engine uses when it turns this control layer's image into edges. */
export function setCannyThresholds(doc: ProjectDocument, layerId: string, low: number, high: number): ProjectDocument {
  return updateLayer(doc, layerId, 'control', { cannyLow: low, cannyHigh: high });
}

// Sketch strokes ---------------------------------------------------------------------------

export function addStroke(doc: ProjectDocument, layerId: string, stroke: Stroke): ProjectDocument {
  const layer = requireUnlocked(requireKind(doc, layerId, ['sketch']));
  if (stroke.points.length % 3 !== 0) throw new DocumentError('Stroke points are x, y, pressure triples');
  if (layer.strokes.some((s) => s.id === stroke.id)) throw new DocumentError(`A stroke with id "${stroke.id}" already exists`);
  return replaceLayer(doc, { ...layer, strokes: [...layer.strokes, stroke] });
}

/** Appends points (x, y, pressure triples) to a stroke being drawn. */
export function extendStroke(doc: ProjectDocument, layerId: string, strokeId: string, points: readonly number[]): ProjectDocument {
  const layer = requireUnlocked(requireKind(doc, layerId, ['sketch']));
  if (points.length % 3 !== 0) throw new DocumentError('Stroke points are x, y, pressure triples');
  const stroke = layer.strokes.find((s) => s.id === strokeId);
  if (!stroke) throw new DocumentError(`No stroke with id "${strokeId}" in layer "${layer.name}"`);
  const extended = { ...stroke, points: [...stroke.points, ...points] };
  return replaceLayer(doc, { ...layer, strokes: layer.strokes.map((s) => (s.id === strokeId ? extended : s)) });
}

export function removeStrokes(doc: ProjectDocument, layerId: string, strokeIds: readonly string[]): ProjectDocument {
  const layer = requireUnlocked(requireKind(doc, layerId, ['sketch']));
  const gone = new Set(strokeIds);
  return replaceLayer(doc, { ...layer, strokes: layer.strokes.filter((s) => !gone.has(s.id)) });
}

// Shapes -----------------------------------------------------------------------------------

export function addShape(doc: ProjectDocument, layerId: string, shape: Shape): ProjectDocument {
  const layer = requireUnlocked(requireKind(doc, layerId, ['shapes']));
  if (layer.shapes.some((s) => s.id === shape.id)) throw new DocumentError(`A shape with id "${shape.id}" already exists`);
  return replaceLayer(doc, { ...layer, shapes: [...layer.shapes, shape] });
}

/** Changes a shape's geometry, style or label; its `id` and `type` stay. */
export function updateShape(doc: ProjectDocument, layerId: string, shapeId: string, changes: Partial<Record<string, unknown>>): ProjectDocument {
  const layer = requireUnlocked(requireKind(doc, layerId, ['shapes']));
  const shape = layer.shapes.find((s) => s.id === shapeId);
  if (!shape) throw new DocumentError(`No shape with id "${shapeId}" in layer "${layer.name}"`);
  const next = { ...shape, ...changes, id: shape.id, type: shape.type } as Shape;
  return replaceLayer(doc, { ...layer, shapes: layer.shapes.map((s) => (s.id === shapeId ? next : s)) });
}

export function removeShapes(doc: ProjectDocument, layerId: string, shapeIds: readonly string[]): ProjectDocument {
  const layer = requireUnlocked(requireKind(doc, layerId, ['shapes']));
  const gone = new Set(shapeIds);
  return replaceLayer(doc, { ...layer, shapes: layer.shapes.filter((s) => !gone.has(s.id)) });
}

// Raster content ---------------------------------------------------------------------------

/**
 * Points a raster layer (paint, reference, mask, generated) at new pixels. Parts are
 * immutable: a brush stroke on a paint layer makes a new part, so undo only swaps references.
 */
export function setLayerImage(
  doc: ProjectDocument,
  layerId: string,
  image: RasterRef,
  placement?: { x?: number; y?: number; width?: number; height?: number },
): ProjectDocument {
  const layer = requireUnlocked(requireKind(doc, layerId, ['paint', 'reference', 'mask', 'generated']));
  return replaceLayer(doc, { ...layer, ...placement, image });
}

/** Sets a control layer's own control map (clearing a source layer). */
export function setControlImage(doc: ProjectDocument, layerId: string, image: RasterRef): ProjectDocument {
  const layer = requireUnlocked(requireKind(doc, layerId, ['control']));
  return replaceLayer(doc, { ...layer, image, sourceLayerId: null });
}

/** Renders another layer (e.g. a sketch) as this control layer's map. */
export function setControlSource(doc: ProjectDocument, layerId: string, sourceLayerId: string): ProjectDocument {
  const layer = requireUnlocked(requireKind(doc, layerId, ['control']));
  const source = requireLayer(doc, sourceLayerId);
  if (source.kind === 'control') throw new DocumentError('A control layer cannot use another control layer as its source');
  return replaceLayer(doc, { ...layer, image: null, sourceLayerId });
}

// Canvas and settings ----------------------------------------------------------------------

export function resizeCanvas(doc: ProjectDocument, width: number, height: number): ProjectDocument {
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 16_384) throw new DocumentError(`Canvas ${name} ${v} is outside 1..16384`);
  }
  return { ...doc, canvas: { ...doc.canvas, width, height } };
}

export function renameProject(doc: ProjectDocument, name: string): ProjectDocument {
  return { ...doc, name };
}

/** Merges changes into the generation settings, validated against GenerationRequest's limits. */
export function updateSettings(doc: ProjectDocument, changes: Partial<GenerationSettingsInput>): ProjectDocument {
  const parsed = GenerationSettings.safeParse({ ...doc.settings, ...changes });
  if (!parsed.success) throw new DocumentError(`Invalid generation settings: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, parsed.error.issues);
  return { ...doc, settings: parsed.data };
}

// Generations and candidates (usually applied with History.applyRemote: not undoable) -------

export function findCandidate(doc: ProjectDocument, candidateId: string): { generation: Generation; candidate: Candidate } | undefined {
  for (const generation of doc.generations) {
    const candidate = generation.candidates.find((c) => c.id === candidateId);
    if (candidate) return { generation, candidate };
  }
  return undefined;
}

/** Records a generation (with or without its candidates yet). A refinement names its parent. */
export function addGeneration(doc: ProjectDocument, generation: Generation): ProjectDocument {
  if (doc.generations.some((g) => g.id === generation.id)) throw new DocumentError(`A generation with id "${generation.id}" already exists`);
  if (generation.parentCandidateId !== null && !findCandidate(doc, generation.parentCandidateId)) {
    throw new DocumentError(`Generation "${generation.id}" refines unknown candidate "${generation.parentCandidateId}"`);
  }
  if (generation.maskLayerId !== null && generation.maskSnapshot === null) {
    throw new DocumentError('A generation that used a mask layer keeps a snapshot of that mask');
  }
  return { ...doc, generations: [...doc.generations, generation] };
}

/** Adds candidates as they arrive for a generation. */
export function addCandidates(doc: ProjectDocument, generationId: string, candidates: readonly Candidate[]): ProjectDocument {
  const generation = doc.generations.find((g) => g.id === generationId);
  if (!generation) throw new DocumentError(`No generation with id "${generationId}"`);
  for (const c of candidates) {
    if (findCandidate(doc, c.id)) throw new DocumentError(`A candidate with id "${c.id}" already exists`);
  }
  const next = { ...generation, candidates: [...generation.candidates, ...candidates] };
  return { ...doc, generations: doc.generations.map((g) => (g.id === generationId ? next : g)) };
}

export function setFavourite(doc: ProjectDocument, candidateId: string, favourite: boolean): ProjectDocument {
  const found = findCandidate(doc, candidateId);
  if (!found) throw new DocumentError(`No candidate with id "${candidateId}"`);
  const generation = { ...found.generation, candidates: found.generation.candidates.map((c) => (c.id === candidateId ? { ...c, favourite } : c)) };
  return { ...doc, generations: doc.generations.map((g) => (g.id === generation.id ? generation : g)) };
}

/** Places a candidate on the canvas as a generated layer, on top, covering the canvas. */
export function placeCandidate(doc: ProjectDocument, candidateId: string, layerId = newId('l')): ProjectDocument {
  const found = findCandidate(doc, candidateId);
  if (!found) throw new DocumentError(`No candidate with id "${candidateId}"`);
  const { candidate, generation } = found;
  if (!candidate.image) throw new DocumentError(`Candidate "${candidateId}" has no image in this project`);
  const layer = createLayer('generated', {
    id: layerId,
    name: `Seed ${candidate.seed}`,
    image: candidate.image,
    x: 0,
    y: 0,
    width: doc.canvas.width,
    height: doc.canvas.height,
    generationId: generation.id,
    candidateId,
  });
  return addLayer(doc, layer);
}
