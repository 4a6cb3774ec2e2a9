// The library's public surface: see library.ts for the lifecycle and recordGeneration.
// PNG metadata (reading, the A1111 text, the stamp) lives in app/formats, shared with projects.
export { Library, LibraryCorruptError, openLibrary, libraryRoot } from './library.js';
export { buildFtsQuery, parseDateBound } from './search-query.js';
export type { OpenLibraryOptions, RecordGenerationInput, RecordedCandidate, RgbaImage } from './library.js';
export { recoverLibrary } from './recover.js';
export { LATEST_VERSION, LibraryVersionError, MIGRATIONS, migrate } from './schema.js';
export { ImageStore, THUMBNAIL_SIZE, writeFileDurably } from './image-store.js';
export { parseImportedMetadata } from './interchange.js';
export type { ImportedMetadata } from './interchange.js';
