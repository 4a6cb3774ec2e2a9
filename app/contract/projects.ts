import { z } from 'zod';
import { ControlInput, ControlType, GenerationMode, GenerationRequest, InpaintOptions, MAX_SEED } from './generation.js';

// The project document (the artist's composition) and the StudioApi members of the projects
// area. The document schema lives here because it travels over the API; its operations,
// undo/redo and migrations live in app/projects/document (pure, shared with the renderer).

/**
 * Schema version written by this app. Older documents are migrated forward on open
 * (app/projects/document/migrate.ts). 2: generated layers and candidates may refer to library
 * images by content hash; settings keep the seed policy and always a generation size.
 */
export const PROJECT_SCHEMA_VERSION = 2;

// Guards against hostile documents: a JSON that passes these is still bounded in memory.
const MAX_ID = 64;
const MAX_NAME = 256;
/** Largest canvas side; importers, sharp (limitInputPixels) and exports use the same bound. */
export const MAX_CANVAS = 16_384;
const MAX_LAYERS = 1_000;
const MAX_STROKES = 100_000;
const MAX_POINTS = 3 * 200_000; // flat x, y, pressure triples

export const Id = z.string().min(1).max(MAX_ID).regex(/^[A-Za-z0-9_-]+$/, 'ids are letters, digits, _ and -');

/**
 * Where raster content lives: a part of the .atelier zip, `parts/<name>.png`. The bytes travel
 * beside the document (ProjectSnapshot.assets), never inside it, so undo diffs stay small.
 */
export const PART_PATTERN = /^parts\/[A-Za-z0-9_-]{1,64}\.png$/;
export const RasterRef = z.object({ part: z.string().regex(PART_PATTERN, 'a part is parts/<id>.png') }).strict();
export type RasterRef = z.infer<typeof RasterRef>;

export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 is 64 lower-case hex digits');
/**
 * An image of the library by the SHA-256 of its PNG bytes (the library's store is
 * content-addressed). A candidate's pixels are already in the library, so the document names
 * them instead of holding a copy: the UI shows them from the library's image URL, the service
 * copies the bytes into an .atelier file when it writes one (`images/<sha256>.png`) and hands
 * them back to the library when it opens the file on a machine whose library lacks them.
 */
export const LibraryRef = z.object({ sha256: Sha256 }).strict();
export type LibraryRef = z.infer<typeof LibraryRef>;
/** Pixels of a candidate or a generated layer: a library image, or a part (files before schema 2). */
export const ImageSource = z.union([LibraryRef, RasterRef]);
export type ImageSource = z.infer<typeof ImageSource>;

/** CSS hex colour, #rrggbb or #rrggbbaa. */
export const Colour = z.string().regex(/^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$/, 'a colour is #rrggbb or #rrggbbaa');

const coordinate = z.number().finite().min(-1_000_000).max(1_000_000);
const length = z.number().finite().min(0).max(1_000_000);

const layerBase = {
  id: Id,
  name: z.string().max(MAX_NAME),
  visible: z.boolean(),
  locked: z.boolean(),
  /** 0 = transparent, 1 = opaque (OpenRaster and Konva use the same range). */
  opacity: z.number().min(0).max(1),
};

export const SketchTool = z.enum(['pen', 'pencil', 'brush', 'marker', 'eraser']);
export type SketchTool = z.infer<typeof SketchTool>;

/**
 * One pen-down-to-pen-up stroke. `points` is flat `[x, y, pressure, x, y, pressure, …]` in canvas
 * pixels, pressure 0..1 (0.5 for a mouse) — flat like Konva's Line.points, a third the JSON size of
 * point objects.
 */
export const Stroke = z
  .object({
    id: Id,
    tool: SketchTool,
    colour: Colour,
    /** Width in canvas pixels at the neutral pressure 0.5 (a mouse's); pressure p draws width × 2p (app/projects/document/pressure.ts). */
    width: z.number().min(0.1).max(1000),
    points: z.array(z.number().finite()).max(MAX_POINTS),
  })
  .strict()
  .refine((s) => s.points.length % 3 === 0, { message: 'stroke points are x, y, pressure triples', path: ['points'] });
export type Stroke = z.infer<typeof Stroke>;

const shapeStyle = {
  id: Id,
  stroke: Colour,
  strokeWidth: length,
  fill: Colour.nullable(),
};
/** Rectangle and ellipse share their bounding box: x, y is the top-left corner. */
export const RectangleShape = z.object({ type: z.literal('rectangle'), ...shapeStyle, x: coordinate, y: coordinate, width: length, height: length }).strict();
export const EllipseShape = z.object({ type: z.literal('ellipse'), ...shapeStyle, x: coordinate, y: coordinate, width: length, height: length }).strict();
export const LineShape = z.object({ type: z.literal('line'), ...shapeStyle, x1: coordinate, y1: coordinate, x2: coordinate, y2: coordinate }).strict();
/**
 * A labelled box: "what goes here" (e.g. "red barn"), used for layout and, as a regional prompt
 * (docs/canvas.md), with its label as the region's prompt at `weight` (omitted: 1; 0: layout only).
 */
export const RegionShape = z
  .object({
    type: z.literal('region'),
    ...shapeStyle,
    x: coordinate,
    y: coordinate,
    width: length,
    height: length,
    label: z.string().max(1000),
    weight: z.number().min(0).max(2).optional(),
  })
  .strict();
export const Shape = z.discriminatedUnion('type', [RectangleShape, EllipseShape, LineShape, RegionShape]);
export type Shape = z.infer<typeof Shape>;

/** Placement of a raster on the canvas; the image is drawn scaled to width × height. */
const rasterPlacement = { image: RasterRef, x: coordinate, y: coordinate, width: length.min(1), height: length.min(1) };
/**
 * How a picture layer is turned within its rectangle (docs/canvas.md, "Move, scale, rotate,
 * flip"): mirrored first (flipX left↔right, flipY top↔bottom), then rotated `rotation`
 * degrees clockwise about the rectangle's centre. Optional, so files written before them open
 * unchanged (absent = 0 / false).
 */
const orientation = { rotation: z.number().min(-360).max(360).optional(), flipX: z.boolean().optional(), flipY: z.boolean().optional() };

export const SketchLayer = z.object({ kind: z.literal('sketch'), ...layerBase, strokes: z.array(Stroke).max(MAX_STROKES) }).strict();
export const ShapesLayer = z.object({ kind: z.literal('shapes'), ...layerBase, shapes: z.array(Shape).max(MAX_STROKES) }).strict();
export const PaintLayer = z.object({ kind: z.literal('paint'), ...layerBase, ...rasterPlacement, ...orientation }).strict();
export const ReferenceLayer = z
  .object({ kind: z.literal('reference'), ...layerBase, ...rasterPlacement, ...orientation, /** Where it came from, for the artist's memory. */ source: z.string().max(4096).nullable() })
  .strict();
/**
 * White = repaint, black = keep (the engine's InpaintOptions.mask convention). With a non-empty
 * `regionPrompt` the mask is a regional prompt instead (docs/canvas.md, "Regional prompts"):
 * white = the region, at `regionWeight` (omitted: 1; 0: off), and it is no inpaint mask. Both
 * optional, so files written before them open unchanged.
 */
export const MaskLayer = z
  .object({
    kind: z.literal('mask'),
    ...layerBase,
    ...rasterPlacement,
    /** Overlay colour on the canvas. */
    colour: Colour,
    regionPrompt: z.string().max(1000).optional(),
    regionWeight: z.number().min(0).max(2).optional(),
  })
  .strict();
/**
 * A ControlNet conditioning layer: either its own control map (image) or another layer of this
 * document rendered as the control map (sourceLayerId, e.g. a sketch layer through scribble).
 */
export const ControlLayer = z
  .object({
    kind: z.literal('control'),
    ...layerBase,
    controlType: ControlType,
    /** ControlNet folder or registered id; null = the default for the control type. */
    model: z.string().max(4096).nullable(),
    preprocess: z.enum(['none', 'canny', 'scribble']),
    weight: z.number().min(0).max(2),
    start: z.number().min(0).max(1),
    end: z.number().min(0).max(1),
    image: RasterRef.nullable(),
    sourceLayerId: Id.nullable(),
    /**
     * Canny hysteresis thresholds (ControlInput.cannyLow/cannyHigh, same range and defaults) for
     * preprocess 'canny'. Defaulted, so documents written before they existed open unchanged
     * (schema version 1 still: an added field with a default needs no migration).
     */
    cannyLow: ControlInput.shape.cannyLow,
    cannyHigh: ControlInput.shape.cannyHigh,
  })
  .strict()
  .refine((c) => c.start <= c.end, { message: 'control start must not exceed end', path: ['start'] })
  .refine((c) => c.cannyLow <= c.cannyHigh, { message: 'the Canny low threshold must not exceed the high one', path: ['cannyLow'] })
  .refine((c) => (c.image === null) !== (c.sourceLayerId === null), { message: 'a control layer has either an image or a source layer', path: ['image'] });
/** A candidate placed on the canvas: its pixels are the candidate's (by reference since schema 2). */
export const GeneratedLayer = z
  .object({ kind: z.literal('generated'), ...layerBase, ...rasterPlacement, ...orientation, image: ImageSource, generationId: Id, candidateId: Id })
  .strict();

export const Layer = z.discriminatedUnion('kind', [SketchLayer, ShapesLayer, PaintLayer, ReferenceLayer, MaskLayer, ControlLayer, GeneratedLayer]);
export type Layer = z.infer<typeof Layer>;
export type LayerKind = Layer['kind'];
export type SketchLayer = z.infer<typeof SketchLayer>;
export type ShapesLayer = z.infer<typeof ShapesLayer>;
export type PaintLayer = z.infer<typeof PaintLayer>;
export type ReferenceLayer = z.infer<typeof ReferenceLayer>;
export type MaskLayer = z.infer<typeof MaskLayer>;
export type ControlLayer = z.infer<typeof ControlLayer>;
export type GeneratedLayer = z.infer<typeof GeneratedLayer>;
export const LAYER_KINDS = ['sketch', 'shapes', 'paint', 'reference', 'mask', 'control', 'generated'] as const satisfies readonly LayerKind[];
/** Kinds whose content is one PNG part. */
export const RASTER_KINDS = ['paint', 'reference', 'mask', 'generated'] as const satisfies readonly LayerKind[];

const g = GenerationRequest.shape;

/** How the seed field advances: a fresh seed per run, the same one, or past the whole batch. */
export const SeedPolicy = z.enum(['random', 'fixed', 'increment']);
export type SeedPolicy = z.infer<typeof SeedPolicy>;

/**
 * Generation settings, the one shape the prompt panel edits and the document keeps:
 * GenerationRequest's own fields (same names, same limits), minus what the canvas supplies at
 * generate time (init image, mask, control images come from layers), plus how the seed
 * advances. `requestFromSettings` (app/projects/document/requests.ts) is its one mapping to a
 * request.
 */
export const GenerationSettings = z
  .object({
    model: g.model.default('starter'),
    prompt: g.prompt.default(''),
    negativePrompt: g.negativePrompt,
    sampler: g.sampler,
    steps: g.steps,
    cfg: g.cfg,
    /** The generation frame's size; always set (schema 2), so the panel and the frame agree. */
    width: g.width.unwrap().default(512),
    height: g.height.unwrap().default(512),
    seed: z.number().int().min(0).max(MAX_SEED).default(0),
    /** 'random': a fresh seed for every generation (the used seed is recorded on each candidate). */
    seedPolicy: SeedPolicy.default('random'),
    seedMode: g.seedMode,
    batch: g.batch,
    strength: g.strength,
    maskBlur: InpaintOptions.shape.blur,
    onlyMasked: InpaintOptions.shape.onlyMasked,
    maskPadding: InpaintOptions.shape.padding,
    device: g.device,
    /** SDXL base → refiner (docs/engine.md): a refiner model id and the switch fraction; absent: none. */
    refiner: g.refiner,
    /** A VAE instead of the model's own (GenerationRequest.vae, docs/models.md "VAE swap"); absent: the model's. */
    vae: g.vae,
    /** SDXL micro-conditioning (GenerationRequest.sdxlConditioning); absent: diffusers' defaults. */
    sdxlConditioning: g.sdxlConditioning,
  })
  .strict();
export type GenerationSettings = z.infer<typeof GenerationSettings>;
export type GenerationSettingsInput = z.input<typeof GenerationSettings>;

export const Candidate = z
  .object({
    id: Id,
    /** 0-based position in its generation's batch. */
    index: z.number().int().min(0).max(1000),
    seed: z.number().int().min(0).max(MAX_SEED),
    /** SHA-256 of the PNG in the library's content-addressed store. */
    sha256: Sha256,
    width: z.number().int().min(1).max(MAX_CANVAS),
    height: z.number().int().min(1).max(MAX_CANVAS),
    /**
     * Its pixels: the library image `{ sha256 }` (written into the .atelier file, so a file
     * opens complete on another machine), or a part copied in by files before schema 2; null
     * when the project has none.
     */
    image: ImageSource.nullable(),
    /** The artist's pick among the gallery. */
    favourite: z.boolean(),
  })
  .strict();
export type Candidate = z.infer<typeof Candidate>;

/**
 * One press of Generate: the request as sent, and the candidates it made. Together the
 * generations are the iteration tree: a generation with a parentCandidateId refined that
 * candidate (img2img or inpaint), with the mask it used kept as a snapshot.
 */
export const Generation = z
  .object({
    id: Id,
    createdAt: z.string().max(64),
    mode: GenerationMode,
    /** The request as the engine received it (JSON; images by sha256). */
    request: z.record(z.string(), z.unknown()),
    parentCandidateId: Id.nullable(),
    /** The mask layer it used (may since be edited or deleted) and a snapshot of its pixels then. */
    maskLayerId: Id.nullable(),
    maskSnapshot: RasterRef.nullable(),
    candidates: z.array(Candidate).max(1000),
  })
  .strict();
export type Generation = z.infer<typeof Generation>;

export const ProjectDocument = z
  .object({
    schemaVersion: z.literal(PROJECT_SCHEMA_VERSION),
    id: Id,
    name: z.string().max(MAX_NAME),
    canvas: z
      .object({
        width: z.number().int().min(1).max(MAX_CANVAS),
        height: z.number().int().min(1).max(MAX_CANVAS),
        background: Colour,
      })
      .strict(),
    /** Bottom first: layers[0] is drawn first (OpenRaster and PSD list top first; exports reverse). */
    layers: z.array(Layer).max(MAX_LAYERS),
    /**
     * Top-left of the generation frame in canvas pixels (docs/canvas.md); it may lie partly
     * outside the canvas (outpainting). Its size is the settings' width × height. Omitted (files
     * written before it, still schema 2: an optional field needs no migration): 0, 0.
     */
    frame: z
      .object({ x: z.number().int().min(-MAX_CANVAS).max(MAX_CANVAS), y: z.number().int().min(-MAX_CANVAS).max(MAX_CANVAS) })
      .strict()
      .optional(),
    settings: GenerationSettings,
    generations: z.array(Generation).max(10_000),
    createdAt: z.string().max(64),
  })
  .strict()
  .superRefine((doc, ctx) => {
    const seen = new Set<string>();
    doc.layers.forEach((layer, i) => {
      if (seen.has(layer.id)) ctx.addIssue({ code: 'custom', message: `duplicate layer id "${layer.id}"`, path: ['layers', i, 'id'] });
      seen.add(layer.id);
    });
    const candidates = new Set<string>();
    const generations = new Set<string>();
    doc.generations.forEach((gen, i) => {
      if (generations.has(gen.id)) ctx.addIssue({ code: 'custom', message: `duplicate generation id "${gen.id}"`, path: ['generations', i, 'id'] });
      generations.add(gen.id);
      for (const c of gen.candidates) {
        if (candidates.has(c.id)) ctx.addIssue({ code: 'custom', message: `duplicate candidate id "${c.id}"`, path: ['generations', i] });
        candidates.add(c.id);
      }
    });
    doc.generations.forEach((gen, i) => {
      if (gen.parentCandidateId !== null && !candidates.has(gen.parentCandidateId)) {
        ctx.addIssue({ code: 'custom', message: `generation "${gen.id}" refines unknown candidate "${gen.parentCandidateId}"`, path: ['generations', i, 'parentCandidateId'] });
      }
    });
  });
export type ProjectDocument = z.infer<typeof ProjectDocument>;

/** A PNG as a data URL (`data:image/png;base64,…`): what an <img> or Konva.Image takes directly. */
export const PngDataUrl = z.string().regex(/^data:image\/png;base64,[A-Za-z0-9+/]*={0,2}$/, 'a PNG data URL');

/**
 * A document with its raster bytes: the unit that is opened, saved and sent to the UI.
 * `assets` maps each part (`parts/<id>.png`) to its PNG as a data URL.
 */
export const ProjectSnapshot = z.object({
  document: ProjectDocument,
  assets: z.record(z.string().regex(PART_PATTERN), PngDataUrl),
});
export type ProjectSnapshot = z.infer<typeof ProjectSnapshot>;

/** PNG parts by path; in requests, only parts the service has not seen yet need to be sent. */
export const ProjectAssetsSchema = z.record(z.string().regex(PART_PATTERN), PngDataUrl);

const FilePath = z.string().min(1).max(4096);

export const ProjectSource = z.enum(['new', 'atelier', 'ora', 'psd', 'image', 'recovery']);

/** An open project: the service keeps a copy per session for saving and autosave. */
export const OpenedProject = z.object({
  sessionId: Id,
  /** The .atelier file it saves to; null until saved (new, imported, recovered without a file). */
  path: z.string().nullable(),
  snapshot: ProjectSnapshot,
  source: ProjectSource,
  /** The schema version of the file when it was older and migrated on open. */
  migratedFrom: z.number().int().nullable(),
});
export type OpenedProject = z.infer<typeof OpenedProject>;

export const ExportFormat = z.enum(['png', 'ora', 'psd', 'contact-sheet']);
export type ExportFormat = z.infer<typeof ExportFormat>;

export const RecentProject = z.object({ path: z.string(), name: z.string(), openedAt: z.string(), exists: z.boolean() });
export const RecoveryEntry = z.object({
  recoveryId: Id,
  name: z.string(),
  /** The file the project was saved to before the crash, if any. */
  path: z.string().nullable(),
  savedAt: z.string(),
});
export type RecoveryEntry = z.infer<typeof RecoveryEntry>;

export const ProjectInfo = z.object({
  path: z.string(),
  name: z.string(),
  schemaVersion: z.number().int(),
  fileSchemaVersion: z.number().int(),
  appVersion: z.string().nullable(),
  canvas: z.object({ width: z.number().int(), height: z.number().int() }),
  layers: z.array(z.object({ id: z.string(), name: z.string(), kind: z.string(), visible: z.boolean(), opacity: z.number() })),
  generations: z.number().int(),
  candidates: z.number().int(),
  /** PNG images the file holds: parts and, since schema 2, the library images it refers to. */
  parts: z.number().int(),
});
export type ProjectInfo = z.infer<typeof ProjectInfo>;

const edits = { document: ProjectDocument.optional(), assets: ProjectAssetsSchema.default({}) };
const saved = z.object({ path: z.string(), savedAt: z.string() });

export const projectsMethods = {
  'projects.new': {
    params: z.object({ name: z.string().max(MAX_NAME).optional(), width: z.number().int().min(1).max(MAX_CANVAS), height: z.number().int().min(1).max(MAX_CANVAS), background: Colour.optional() }).strict(),
    result: OpenedProject,
  },
  /** Opens an .atelier (any version), or an .ora / .psd / image as a new unsaved project. */
  'projects.open': { params: z.object({ path: FilePath }).strict(), result: OpenedProject },
  /** Hands the service the current document (and new parts) so autosave and recovery have it. */
  'projects.update': { params: z.object({ sessionId: Id, document: ProjectDocument, assets: ProjectAssetsSchema.default({}) }).strict(), result: z.object({ dirty: z.boolean() }) },
  'projects.save': { params: z.object({ sessionId: Id, ...edits }).strict(), result: saved },
  'projects.saveAs': { params: z.object({ sessionId: Id, path: FilePath, ...edits }).strict(), result: saved },
  'projects.close': { params: z.object({ sessionId: Id }).strict(), result: z.object({ closed: z.boolean() }) },
  /** Exports an open session or an .atelier file on disk. */
  'projects.export': {
    params: z
      .object({ sessionId: Id.optional(), path: FilePath.optional(), format: ExportFormat, out: FilePath, generationId: Id.optional() })
      .strict()
      .refine((p) => (p.sessionId === undefined) !== (p.path === undefined), { message: 'give either sessionId or path' }),
    result: z.object({ out: z.string(), bytes: z.number().int() }),
  },
  /** Layers from an image, .ora, .psd or .atelier, with fresh ids, to add to an open document. */
  'projects.importLayers': {
    params: z.object({ path: FilePath, kind: z.enum(['paint', 'reference']).default('paint') }).strict(),
    result: z.object({ canvas: z.object({ width: z.number().int(), height: z.number().int() }), layers: z.array(Layer), assets: ProjectAssetsSchema }),
  },
  'projects.info': { params: z.object({ path: FilePath }).strict(), result: ProjectInfo },
  'projects.recent': { params: z.object({}).strict(), result: z.array(RecentProject) },
  /** Projects autosaved by a session that ended without closing (a crash): offered at start. */
  'projects.recoveries': { params: z.object({}).strict(), result: z.array(RecoveryEntry) },
  'projects.recover': { params: z.object({ recoveryId: Id }).strict(), result: OpenedProject },
  'projects.discardRecovery': { params: z.object({ recoveryId: Id }).strict(), result: z.object({ discarded: z.boolean() }) },
} as const;

export const ProjectAutosavedEvent = z.object({ type: z.literal('project.autosaved'), sessionId: Id, savedAt: z.string() });
export const ProjectSavedEvent = z.object({ type: z.literal('project.saved'), sessionId: Id, path: z.string(), savedAt: z.string() });

export const projectsEvents = [ProjectAutosavedEvent, ProjectSavedEvent] as const satisfies readonly z.ZodObject[];
