/**
 * The one place a PNG gets Atelier's metadata: the A1111 `parameters` text other tools read,
 * and the `atelier` record (JSON in an iTXt chunk) our own import reads back losslessly.
 *
 *   stampPng(rgbaOrPng, { request, seed, width, height, ...who made it })
 *
 * Every writer of a generated image (the library recording or exporting a candidate, a
 * project's flattened PNG export) calls this, so the same request stamps the same bytes
 * whichever door asked (docs/architecture.md, "How a generation travels").
 */
import type { GenerationRequest } from '../contract/generation.js';
import { formatA1111Parameters } from './a1111.js';
import { PNG_SIGNATURE, encodeRgbaPng, insertTextChunks, stripTextChunks, textChunk } from './png-metadata.js';

/** The Atelier record chunk's keyword. */
export const ATELIER_CHUNK = 'atelier';

/** The JSON our PNGs carry in their `atelier` chunk. */
export interface AtelierPngRecord {
  format: 'atelier';
  version: 1;
  /** Re-runs exactly this image: its own seed, batch 1. */
  request: GenerationRequest;
  generationId?: string;
  candidateId?: string;
  index?: number;
  modelName?: string | null;
  modelHash?: string | null;
  device?: string | null;
  appVersion?: string | null;
  createdAt?: string;
  /** The project's name, for a picture exported from a project. */
  project?: string;
}

/** The `atelier` record for one image: the request narrowed to that image's seed, batch 1. */
export function atelierRecord(
  request: GenerationRequest,
  extras: Omit<AtelierPngRecord, 'format' | 'version' | 'request'> & { seed: number },
): AtelierPngRecord {
  const { seed, ...rest } = extras;
  // With a variation every candidate kept the seed and candidate k used variation seed + k
  // (app/engine/rng/variation.ts): the narrowed request re-runs candidate k alone.
  const variation = request.variation && request.variation.strength > 0 && request.batch > 1 ? { ...request.variation, seed: request.variation.seed + (rest.index ?? 0) } : request.variation;
  return { format: 'atelier', version: 1, request: { ...request, seed, batch: 1, ...(variation ? { variation } : {}) }, ...rest };
}

/** What a stamp says about one image. */
export interface PngStamp extends Omit<AtelierPngRecord, 'format' | 'version' | 'request'> {
  /** The request as made (a batch's request is fine: it is narrowed to `seed`, batch 1). */
  request: GenerationRequest;
  /** This image's own seed (candidate k of a batch: seed + k). */
  seed: number;
  /** The image's size as written (the `Size` of the parameters line). */
  width: number;
  height: number;
  /** A1111's `Lora hashes` value, for the parameters line only (the record keeps the prompt's tags). */
  loraHashes?: string;
  /** A1111's `Refiner` value ("name [hash]"), for the parameters line; the switch comes from request.refiner. */
  refiner?: string;
  /** A1111's `VAE hash` (the swapped VAE's), for the parameters line; its name comes from request.vae. */
  vaeHash?: string;
  /** The swapped VAE's file name as resolved (a name in ATELIER_HOME/vae becomes NAME.safetensors); default: from request.vae. */
  vaeName?: string;
}

export interface RgbaPixels {
  width: number;
  height: number;
  data: Uint8Array;
}

/** The two text chunks of a stamp, in the order they are written. */
export function stampText(stamp: PngStamp): { parameters: string; record: AtelierPngRecord } {
  const { request, seed, width, height, loraHashes, refiner, vaeHash, vaeName, ...who } = stamp;
  const parameters = formatA1111Parameters(request, {
    seed,
    width,
    height,
    ...(loraHashes ? { loraHashes } : {}),
    ...(refiner ? { refiner } : {}),
    ...(vaeHash ? { vaeHash } : {}),
    ...(vaeName ? { vaeName } : {}),
    ...(request.variation && request.batch > 1 ? { variationSeed: request.variation.seed + (who.index ?? 0) } : {}),
    modelName: who.modelName ?? undefined,
    modelHash: who.modelHash ?? undefined,
    appVersion: who.appVersion ?? undefined,
  });
  return { parameters, record: atelierRecord(request, { seed, ...who }) };
}

/**
 * PNG bytes carrying the stamp right after IHDR (so readers that stop early still find it):
 * `parameters` as tEXt (iTXt when not Latin-1, as PIL writes it) and the `atelier` record as
 * iTXt. Pixels are encoded first; an encoded PNG loses the text chunks it had, so a file
 * never carries two stories about itself.
 */
export function stampPng(image: RgbaPixels | Buffer, stamp: PngStamp): Buffer {
  const png = Buffer.isBuffer(image) ? image : encodeRgbaPng(image);
  if (!png.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error('stampPng needs PNG bytes or RGBA pixels');
  const { parameters, record } = stampText(stamp);
  return insertTextChunks(stripTextChunks(png), [textChunk('parameters', parameters), textChunk(ATELIER_CHUNK, JSON.stringify(record), { forceItxt: true })]);
}
