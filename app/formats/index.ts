// Pure file formats shared by the library and projects (docs/architecture.md, "Folders"):
// PNG text chunks, the A1111 infotext, and the one stamp of Atelier's metadata.
export { A1111_SAMPLERS, formatA1111Parameters, parseA1111Text, quoteA1111 } from './a1111.js';
export {
  DEFAULT_PNG_LIMITS,
  PNG_SIGNATURE,
  PngMetadataError,
  encodeRgbaPng,
  insertTextChunks,
  readPngMetadata,
  stripTextChunks,
  textChunk,
} from './png-metadata.js';
export type { PngLimits, PngMetadata } from './png-metadata.js';
export { ATELIER_CHUNK, atelierRecord, stampPng, stampText } from './stamp.js';
export type { AtelierPngRecord, PngStamp, RgbaPixels } from './stamp.js';
