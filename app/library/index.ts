// The library's public surface: see library.ts for the lifecycle and recordGeneration.
export { Library, LibraryCorruptError, openLibrary, libraryRoot, stripTextChunks } from './library.js';
export { buildFtsQuery, parseDateBound } from './search-query.js';
export type { OpenLibraryOptions, RecordGenerationInput, RecordedCandidate, RgbaImage } from './library.js';
export { recoverLibrary } from './recover.js';
export { LATEST_VERSION, LibraryVersionError, MIGRATIONS, migrate } from './schema.js';
export { ImageStore, THUMBNAIL_SIZE, writeFileDurably } from './image-store.js';
export { atelierRecord, parseImportedMetadata, parseA1111Text } from './interchange.js';
export type { AtelierPngRecord, ImportedMetadata } from './interchange.js';
export {
  ATELIER_CHUNK,
  DEFAULT_PNG_LIMITS,
  PngMetadataError,
  encodePngWithMetadata,
  formatA1111Parameters,
  readPngMetadata,
} from './png-metadata.js';
export type { PngLimits, PngMetadata } from './png-metadata.js';
