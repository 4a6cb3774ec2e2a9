import { z } from 'zod';
import { GenerationMode, GenerationRequest } from './generation.js';
import { LibraryRef, PART_PATTERN, PngDataUrl, ProjectDocument } from './projects.js';

// StudioApi members for the library: the searchable history of every generation and
// candidate, lineage, recall (re-run exactly), rating/tagging, deletion, import and export.

/** Where a history entry came from: made here, or imported from another tool's PNG. */
export const GenerationSource = z.enum(['atelier', 'a1111', 'forge', 'comfyui', 'invokeai', 'unknown']);
export type GenerationSource = z.infer<typeof GenerationSource>;

export const GenerationStatus = z.enum(['completed', 'failed', 'cancelled', 'imported']);
export type GenerationStatus = z.infer<typeof GenerationStatus>;

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const CandidateRecord = z.object({
  id: z.string(),
  generationId: z.string(),
  index: z.number().int(),
  seed: z.number().int().nullable(),
  sha256: Sha256,
  width: z.number().int(),
  height: z.number().int(),
  /** 0 = unrated, 1–5 stars. */
  rating: z.number().int().min(0).max(5),
  favourite: z.boolean(),
  /** The artist took this candidate (into the canvas or a refinement). */
  accepted: z.boolean(),
  createdAt: z.string(),
});
export type CandidateRecord = z.infer<typeof CandidateRecord>;

/** One history entry: a generation with its candidates, as listed by search. */
export const GenerationSummary = z.object({
  id: z.string(),
  createdAt: z.string(),
  status: GenerationStatus,
  source: GenerationSource,
  mode: GenerationMode,
  prompt: z.string(),
  negativePrompt: z.string(),
  /** The model as requested (folder or id) and as it was when the generation ran. */
  model: z.string(),
  modelName: z.string().nullable(),
  modelHash: z.string().nullable(),
  sampler: z.string().nullable(),
  steps: z.number().int().nullable(),
  cfg: z.number().nullable(),
  seed: z.number().int().nullable(),
  width: z.number().int().nullable(),
  height: z.number().int().nullable(),
  hasControl: z.boolean(),
  parentCandidateId: z.string().nullable(),
  projectId: z.string().nullable(),
  tags: z.array(z.string()),
  candidates: z.array(CandidateRecord),
});
export type GenerationSummary = z.infer<typeof GenerationSummary>;

/** Everything recorded about a generation. */
export const GenerationRecord = GenerationSummary.extend({
  /** The request that re-runs it; null for imports whose parameters could not be read. */
  request: GenerationRequest.nullable(),
  seedMode: z.string().nullable(),
  strength: z.number().nullable(),
  device: z.string().nullable(),
  appVersion: z.string().nullable(),
  /** Milliseconds by phase, as the engine reported them. */
  timings: z.record(z.string(), z.number()),
  error: z.string().nullable(),
  /** Imports: the parameters as the other tool wrote them, parsed but not translated. */
  importedParameters: z.record(z.string(), z.unknown()).nullable(),
  /** Imports: why the parameters are missing or partial. */
  importNote: z.string().nullable(),
});
export type GenerationRecord = z.infer<typeof GenerationRecord>;

/**
 * The document as a generation ran from it: canvas, layer stack (masks, controls, region
 * boxes and mask regions are layers) and frame. Raster layers name their pixels by part, as
 * in the document; `parts` maps each part to the library image holding its bytes.
 */
export const DocumentSnapshot = z
  .object({
    canvas: ProjectDocument.shape.canvas,
    layers: ProjectDocument.shape.layers,
    frame: z.object({ x: z.number().int(), y: z.number().int() }).strict(),
  })
  .strict();
export type DocumentSnapshot = z.infer<typeof DocumentSnapshot>;

const PartPath = z.string().regex(PART_PATTERN);
/** A part's bytes (PNG data URL) or, when the library has them already, their hash. */
export const SnapshotParts = z.record(PartPath, z.union([PngDataUrl, LibraryRef]));
export const StoredSnapshot = z.object({ sha256: Sha256, parts: z.record(PartPath, Sha256) });
export type StoredSnapshot = z.infer<typeof StoredSnapshot>;

export const LibrarySort = z.enum(['newest', 'oldest', 'rating', 'relevance']);

export const LibrarySearchQuery = z
  .object({
    /**
     * Words to find in prompts. Every word must match; "quoted phrases" match as a phrase;
     * `word*` matches a prefix; `-word` excludes.
     */
    text: z.string().max(1000).default(''),
    /** Also search negative prompts. */
    includeNegative: z.boolean().default(false),
    /** Model as requested, its name or the start of its hash. */
    model: z.string().min(1).optional(),
    /** ISO dates or date-times, inclusive. */
    from: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
    to: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
    /** At least one candidate rated this or higher. */
    minRating: z.number().int().min(1).max(5).optional(),
    favourite: z.boolean().optional(),
    tag: z.string().min(1).optional(),
    projectId: z.string().min(1).optional(),
    mode: GenerationMode.optional(),
    hasControl: z.boolean().optional(),
    status: GenerationStatus.optional(),
    /** Any of these statuses (the history hides failed and cancelled runs by default this way). */
    statuses: z.array(GenerationStatus).min(1).max(GenerationStatus.options.length).optional(),
    source: GenerationSource.optional(),
    /** newest/oldest: the order entries entered the library (made, or imported). */
    sort: LibrarySort.default('newest'),
    limit: z.number().int().min(1).max(500).default(50),
    offset: z.number().int().min(0).default(0),
  })
  .strict();
export type LibrarySearchQuery = z.infer<typeof LibrarySearchQuery>;
export type LibrarySearchQueryInput = z.input<typeof LibrarySearchQuery>;

export const LibrarySearchResult = z.object({
  items: z.array(GenerationSummary),
  /** How many entries match in all. */
  total: z.number().int(),
  offset: z.number().int(),
  limit: z.number().int(),
});
export type LibrarySearchResult = z.infer<typeof LibrarySearchResult>;

export const LineageNode = z.object({
  generationId: z.string(),
  /** The candidate of the parent generation this one refined. */
  parentCandidateId: z.string().nullable(),
  prompt: z.string(),
  mode: GenerationMode,
  createdAt: z.string(),
  candidateIds: z.array(z.string()),
});
export type LineageNode = z.infer<typeof LineageNode>;

export const LineageResult = z.object({
  generationId: z.string(),
  /** From the root down to the entry's parent generation. */
  ancestors: z.array(LineageNode),
  /** Every later generation refined from this entry's candidates (or theirs), oldest first. */
  descendants: z.array(LineageNode),
});
export type LineageResult = z.infer<typeof LineageResult>;

export const RecallResult = z.object({
  generationId: z.string(),
  candidateId: z.string().nullable(),
  /** Re-runs the entry exactly (a candidate: its own seed, batch 1). */
  request: GenerationRequest,
  /** E.g. the model's files changed since (hash mismatch), or a parameter had no Atelier equivalent. */
  warnings: z.array(z.string()),
});
export type RecallResult = z.infer<typeof RecallResult>;

export const ImportFileResult = z.object({
  path: z.string(),
  ok: z.boolean(),
  generationId: z.string().optional(),
  candidateId: z.string().optional(),
  source: GenerationSource.optional(),
  /** Whether generation parameters were read from the file. */
  withParameters: z.boolean().optional(),
  /** Why parameters are missing or partial, or why the file was refused. */
  note: z.string().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type ImportFileResult = z.infer<typeof ImportFileResult>;

const Ids = z.array(z.string().min(1)).min(1).max(10_000);

/** Prompt autocomplete from the history: phrases of earlier prompts starting with what is typed. */
export const PromptPhrasesQuery = z
  .object({
    /** What is being typed (the word at the caret, or more): at least 2 characters. */
    prefix: z.string().trim().min(2).max(200),
    limit: z.number().int().min(1).max(50).default(8),
  })
  .strict();
export type PromptPhrasesQueryInput = z.input<typeof PromptPhrasesQuery>;
export const PromptPhrasesResult = z.object({
  /** Comma-separated phrases of recorded prompts, emphasis dropped, most frequent first. */
  phrases: z.array(z.object({ phrase: z.string(), count: z.number().int().min(1) })),
});
export type PromptPhrasesResult = z.infer<typeof PromptPhrasesResult>;

export const libraryMethods = {
  'library.search': { params: LibrarySearchQuery, result: LibrarySearchResult },
  'library.promptPhrases': { params: PromptPhrasesQuery, result: PromptPhrasesResult },
  /** A generation or candidate id → its generation. */
  'library.get': { params: z.object({ id: z.string().min(1) }).strict(), result: GenerationRecord },
  'library.rate': {
    params: z
      .object({
        candidateId: z.string().min(1),
        rating: z.number().int().min(0).max(5).optional(),
        favourite: z.boolean().optional(),
        accepted: z.boolean().optional(),
      })
      .strict(),
    result: CandidateRecord,
  },
  'library.tag': {
    params: z
      .object({
        generationIds: Ids,
        add: z.array(z.string().trim().min(1).max(64)).default([]),
        remove: z.array(z.string().trim().min(1).max(64)).default([]),
      })
      .strict(),
    result: z.object({ updated: z.number().int() }),
  },
  'library.delete': {
    params: z
      .object({
        /** Generation or candidate ids. */
        ids: Ids,
        /** Also delete later generations refined from these; without it such entries are refused. */
        withDescendants: z.boolean().default(false),
      })
      .strict(),
    result: z.object({ generations: z.number().int(), candidates: z.number().int(), files: z.number().int() }),
  },
  'library.recall': { params: z.object({ id: z.string().min(1) }).strict(), result: RecallResult },
  'library.lineage': { params: z.object({ id: z.string().min(1) }).strict(), result: LineageResult },
  'library.import': {
    params: z.object({ paths: z.array(z.string().min(1)).min(1).max(10_000), projectId: z.string().optional() }).strict(),
    result: z.object({ results: z.array(ImportFileResult) }),
  },
  'library.export': {
    params: z.object({ id: z.string().min(1), dir: z.string().min(1) }).strict(),
    result: z.object({ files: z.array(z.string()) }),
  },
  'library.backup': { params: z.object({ file: z.string().min(1) }).strict(), result: z.object({ file: z.string(), bytes: z.number().int() }) },
  /**
   * Keeps the document a generation ran from (docs/canvas.md, "Branches"): layer pixels go
   * into the image store by content hash (a part the library has is named by `{ sha256 }`,
   * not sent again), the snapshot JSON is stored once per distinct content.
   */
  'library.putSnapshot': {
    params: z.object({ generationId: z.string().min(1), snapshot: DocumentSnapshot, parts: SnapshotParts }).strict(),
    result: StoredSnapshot.extend({ newImages: z.number().int(), bytes: z.number().int() }),
  },
  /** The document a generation ran from; null when none was kept (older or imported entries). */
  'library.snapshot': { params: z.object({ id: z.string().min(1) }).strict(), result: StoredSnapshot.extend({ snapshot: DocumentSnapshot }).nullable() },
} as const;

/** Something in the history changed: lists can refresh. */
export const LibraryChangedEvent = z.object({
  type: z.literal('library.changed'),
  change: z.enum(['recorded', 'imported', 'updated', 'deleted']),
  generationIds: z.array(z.string()),
});

export const libraryEvents = [LibraryChangedEvent] as const satisfies readonly z.ZodObject[];
