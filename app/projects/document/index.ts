/**
 * The project document: pure data and operations, shared by the service and the renderer
 * (no Node built-ins, no DOM; lint enforces it).
 *
 * - A `ProjectDocument` (schema in app/contract/projects.ts) is a plain JSON value: canvas,
 *   layers bottom-first (a discriminated union on `kind`), generation settings, generations
 *   with their candidates (the iteration tree). Treat it as immutable.
 * - Raster content is referenced by part, `{ part: 'parts/<id>.png' }`; the bytes live beside
 *   the document in `ProjectAssets` (part → PNG data URL), which a `ProjectSnapshot`
 *   carries over the API and the .atelier zip stores as PNG files. Parts are immutable.
 *   Candidates and generated layers refer to library images by content hash instead,
 *   `{ sha256 }`: the service resolves those, the UI shows them from the library.
 * - Operations are `(doc, …) → doc` (operations.ts); `History` turns them into undoable steps,
 *   stored as diffs (diff.ts), with gestures, non-undoable remote changes and a selection.
 * - `restoreDocument(json)` migrates older versions forward and validates (migrate.ts).
 */
export * from './operations.js';
export * from './history.js';
export * from './diff.js';
export * from './tree.js';
export * from './assets.js';
export * from './migrate.js';
export * from './errors.js';
export * from './pressure.js';
export * from './placement.js';
export type {
  Candidate,
  ControlLayer,
  Generation,
  GenerationSettings,
  GeneratedLayer,
  ImageSource,
  Layer,
  LibraryRef,
  LayerKind,
  MaskLayer,
  PaintLayer,
  ProjectDocument,
  ProjectSnapshot,
  RasterRef,
  ReferenceLayer,
  Shape,
  ShapesLayer,
  SketchLayer,
  Stroke,
} from '../../contract/projects.js';
export * from './requests.js';
