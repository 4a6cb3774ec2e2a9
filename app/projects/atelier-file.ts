import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ApiError } from '../contract/errors.js';
import { PART_PATTERN, PROJECT_SCHEMA_VERSION, ProjectDocument } from '../contract/projects.js';
import {
  DocumentError,
  LIBRARY_IMAGE_PATTERN,
  type ProjectAssets,
  documentVersion,
  libraryImageKey,
  pngDimensions,
  referencedEntries,
  referencedImages,
  referencedParts,
  restoreDocument,
} from './document/index.js';
import { pngBytes, pngDataUrl } from './png-data.js';
import { DEFAULT_ZIP_LIMITS, type ZipArchive, type ZipLimits, withZip, writeZip } from './zip.js';

// The .atelier file: a zip holding
//   manifest.json   { format: "atelier", schemaVersion, appVersion, savedAt, document, parts }
//   document.json   the ProjectDocument
//   parts/<id>.png  every raster the document refers to (stored, not deflated: PNG already is)
//   images/<sha256>.png  since schema 2, every library image the document refers to by hash,
//                   the library's bytes as they are (the reader checks they hash to the name)
// Version 0 (the preview format) had manifest { app: "atelier", version: 0 } and project.json.
// docs/architecture.md, "Data on disk", describes the file for a newcomer.

export const PROJECT_EXTENSION = '.atelier';
export const DOCUMENT_ENTRY = 'document.json';

export const ProjectManifest = z
  .object({
    format: z.literal('atelier'),
    schemaVersion: z.number().int().min(1),
    appVersion: z.string().max(64),
    savedAt: z.string().max(64),
    document: z.literal(DOCUMENT_ENTRY),
    parts: z.array(z.string().regex(PART_PATTERN)).max(100_000),
    images: z.array(z.string().regex(LIBRARY_IMAGE_PATTERN)).max(100_000).optional(),
  })
  .strict();
export type ProjectManifest = z.infer<typeof ProjectManifest>;

const ManifestV0 = z.object({ app: z.literal('atelier'), version: z.literal(0) });

export interface ProjectLimits extends ZipLimits {
  /** Largest JSON entry (manifest, document). */
  maxJsonBytes: number;
  /** Largest image side and pixel count of any part, read from its header before decoding. */
  maxImageSide: number;
  maxImagePixels: number;
}

export const DEFAULT_PROJECT_LIMITS: ProjectLimits = {
  ...DEFAULT_ZIP_LIMITS,
  maxJsonBytes: 64 * 1024 * 1024,
  maxImageSide: 16_384,
  maxImagePixels: 16_384 * 16_384,
};

export interface ProjectFile {
  document: ProjectDocument;
  assets: ProjectAssets;
  /** The schema version the file was written in (older than current: it was migrated). */
  fileSchemaVersion: number;
  appVersion: string | null;
}

function invalid(message: string, details?: unknown): never {
  throw new ApiError('invalid_file', message, details);
}

function parseJson(bytes: Buffer | undefined, name: string, limits: ProjectLimits): unknown {
  if (!bytes) invalid(`The project has no ${name}`);
  if (bytes.length > limits.maxJsonBytes) invalid(`${name} is ${bytes.length} bytes; at most ${limits.maxJsonBytes} are accepted`);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    invalid(`${name} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Checks a part is a PNG within the size limits, from its header alone. */
export function checkPng(bytes: Uint8Array, name: string, limits: Pick<ProjectLimits, 'maxImageSide' | 'maxImagePixels'>): { width: number; height: number } {
  let size: { width: number; height: number };
  try {
    size = pngDimensions(bytes);
  } catch (error) {
    invalid(`${name} is not a PNG: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (size.width < 1 || size.height < 1) invalid(`${name} has an empty size ${size.width}×${size.height}`);
  if (size.width > limits.maxImageSide || size.height > limits.maxImageSide || size.width * size.height > limits.maxImagePixels) {
    invalid(`${name} is ${size.width}×${size.height} pixels; at most ${limits.maxImageSide} per side and ${limits.maxImagePixels} in all are accepted`);
  }
  return size;
}

/**
 * Reads an .atelier file (path or bytes) of this or any earlier version. Returns the whole
 * project or throws ApiError('invalid_file') with the reason — never a half-loaded project.
 */
export async function readProjectFile(source: string | Buffer, limits: ProjectLimits = DEFAULT_PROJECT_LIMITS): Promise<ProjectFile> {
  return withZip(source, limits, 'project file', (zip) => readProject(zip, limits));
}

/** Inflates only the manifest, the document and the parts the document refers to (issue 17). */
async function readProject(files: ZipArchive, limits: ProjectLimits): Promise<ProjectFile> {
  if (!files.has('manifest.json') && files.has('mimetype')) {
    invalid(`This is not an .atelier file (it looks like ${(await files.read('mimetype'))?.toString('latin1').trim() === 'image/openraster' ? 'an OpenRaster file' : 'another zip'}): open or import it instead`);
  }
  const rawManifest = parseJson(await files.read('manifest.json'), 'manifest.json', limits);
  let rawDocument: unknown;
  let fileSchemaVersion: number;
  let appVersion: string | null = null;
  if (ManifestV0.safeParse(rawManifest).success) {
    rawDocument = parseJson(await files.read('project.json'), 'project.json', limits);
    fileSchemaVersion = 0;
  } else {
    const version = (rawManifest as { schemaVersion?: unknown } | null)?.schemaVersion;
    if (typeof version === 'number' && version > PROJECT_SCHEMA_VERSION) {
      invalid(`This project was made by a newer Atelier (schema ${version}; this one reads up to ${PROJECT_SCHEMA_VERSION})`);
    }
    const manifest = ProjectManifest.safeParse(rawManifest);
    if (!manifest.success) invalid(`manifest.json is not an Atelier manifest: ${z.prettifyError(manifest.error)}`, manifest.error.issues);
    rawDocument = parseJson(await files.read(DOCUMENT_ENTRY), DOCUMENT_ENTRY, limits);
    fileSchemaVersion = manifest.data.schemaVersion;
    appVersion = manifest.data.appVersion;
    let docVersion: number;
    try {
      docVersion = documentVersion(rawDocument);
    } catch (error) {
      invalid(error instanceof Error ? error.message : String(error));
    }
    if (docVersion !== fileSchemaVersion) invalid(`The manifest says schema ${fileSchemaVersion} but the document says ${docVersion}`);
  }
  let document: ProjectDocument;
  try {
    document = restoreDocument(rawDocument);
  } catch (error) {
    if (error instanceof DocumentError) invalid(error.message, error.details);
    throw error;
  }
  const assets: Record<string, string> = {};
  for (const part of referencedParts(document)) {
    const bytes = await files.read(part);
    if (!bytes) invalid(`The project refers to ${part}, which the file does not contain`);
    checkPng(bytes, part, limits);
    assets[part] = pngDataUrl(bytes);
  }
  // Library images travel under their hash: bytes that hash to something else would show the
  // wrong picture here and, handed to a library, be filed under a false name.
  for (const sha256 of referencedImages(document)) {
    const entry = libraryImageKey(sha256);
    const bytes = await files.read(entry);
    if (!bytes) invalid(`The project refers to library image ${sha256}, which the file does not contain`);
    checkPng(bytes, entry, limits);
    if (createHash('sha256').update(bytes).digest('hex') !== sha256) invalid(`${entry} does not hold the image its name says (its SHA-256 differs)`);
    assets[entry] = pngDataUrl(bytes);
  }
  return { document, assets, fileSchemaVersion, appVersion };
}

/**
 * The bytes of an .atelier file for a document and its assets: only referenced parts are
 * written, and the library images it refers to, which the caller puts in `assets` under
 * `images/<sha256>.png` (the service copies them from the library, see ProjectsService).
 */
export async function encodeProjectFile(input: ProjectDocument, assets: ProjectAssets, appVersion: string, savedAt = new Date().toISOString()): Promise<Buffer> {
  // Never write what could not be read back; parsing also puts keys in schema order, so the
  // same document always saves to the same bytes.
  const checked = ProjectDocument.safeParse(input);
  if (!checked.success) throw new ApiError('bad_request', `The document is invalid: ${z.prettifyError(checked.error)}`, checked.error.issues);
  const document = checked.data;
  const entries = [...referencedEntries(document)].sort();
  const parts = entries.filter((entry) => PART_PATTERN.test(entry));
  const images = entries.filter((entry) => LIBRARY_IMAGE_PATTERN.test(entry));
  const partBytes = entries.map((part) => {
    const dataUrl = assets[part];
    if (dataUrl === undefined) throw new ApiError('bad_request', `The document refers to ${part}, but no image was given for it`);
    try {
      return { name: part, data: pngBytes(dataUrl), compress: false };
    } catch (error) {
      throw new ApiError('bad_request', `${part}: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  const manifest: ProjectManifest = { format: 'atelier', schemaVersion: PROJECT_SCHEMA_VERSION, appVersion, savedAt, document: DOCUMENT_ENTRY, parts, images };
  return writeZip([
    { name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest, null, 2)), compress: true },
    { name: DOCUMENT_ENTRY, data: Buffer.from(JSON.stringify(document)), compress: true },
    ...partBytes,
  ]);
}
