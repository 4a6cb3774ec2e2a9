import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ApiError, ErrorCode, GenerationRequest } from '../../contract/index.js';
import { decodeImage } from '../../engine/image.js';
import type { RgbaImage } from '../../engine/pipeline/types.js';

// What travels through the farm's queue (docs/farm.md, "What a job carries"). Both sides parse
// everything they read from Redis with these schemas: a worker refuses a malformed or hostile
// job (it fails, and the studio records the failure), and a studio refuses a result that does
// not fit (a broken or hostile worker). A job carries no path of the artist's machine: models
// are named by content hash, images travel as PNG bytes, and the request's own image
// references are replaced by the hashes of those bytes.

const HASH = /^[0-9a-f]{64}$/;
/** One image's base64 PNG: bounded well above a 4096² RGBA PNG, far below what would fill Redis. */
const MAX_PNG_BASE64 = 96 * 1024 * 1024;
const Base64Png = z.string().min(1).max(MAX_PNG_BASE64).regex(/^[A-Za-z0-9+/]+=*$/);

export const ModelRef = z.object({ hash: z.string().regex(HASH), name: z.string().min(1).max(256) }).strict();
export type ModelRef = z.infer<typeof ModelRef>;

/** Where a worker that lacks a model fetches it (app/service/farm/model-server.ts). */
export const ModelSource = z.object({ url: z.url({ protocol: /^https?$/ }).max(2048), token: z.string().regex(/^[A-Za-z0-9_-]{32,128}$/) }).strict();
export type ModelSource = z.infer<typeof ModelSource>;

export const FarmJobData = z
  .object({
    v: z.literal(1),
    studioId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
    /** The studio's job id (also the BullMQ job id). */
    jobId: z.string().regex(/^j_[0-9a-f-]{36}$/),
    /** The engine's request: `model` and each control's `model` are content hashes, image references are the hashes of `images`. */
    request: GenerationRequest,
    models: z.array(ModelRef).min(1).max(9),
    // `regions`: one fitted mask per request.regions (docs/canvas.md, "Regional prompts"); absent on older studios' jobs.
    images: z.object({ init: Base64Png.optional(), mask: Base64Png.optional(), controls: z.array(Base64Png).max(8), regions: z.array(Base64Png).max(8).optional() }).strict(),
    source: ModelSource.nullable(),
  })
  .strict();
export type FarmJobData = z.infer<typeof FarmJobData>;

export const FarmProgress = z
  .object({
    device: z.string().max(64),
    step: z.number().int().min(0).max(10_000),
    totalSteps: z.number().int().min(1).max(10_000),
    candidateIndex: z.number().int().min(0).max(64),
    preview: Base64Png.optional(),
    workerId: z.string().max(128),
  })
  .strict();
export type FarmProgress = z.infer<typeof FarmProgress>;

export const FarmResult = z
  .object({
    device: z.string().max(64),
    workerId: z.string().max(128),
    timings: z.record(z.string().max(64), z.number().finite()),
    candidates: z.array(z.object({ index: z.number().int().min(0).max(64), seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), png: Base64Png }).strict()).max(64),
  })
  .strict();
export type FarmResult = z.infer<typeof FarmResult>;

/** A worker's advert (a Redis key with a short expiry, refreshed while it lives). */
export const WorkerAdvert = z
  .object({
    id: z.string().max(128),
    host: z.string().max(256),
    pid: z.number().int(),
    device: z.string().max(64),
    concurrency: z.number().int().min(1),
    models: z.array(z.string().regex(HASH)).max(10_000),
    running: z.array(z.string().max(64)).max(64),
    startedAt: z.string(),
    seenAt: z.string(),
  })
  .strict();
export type WorkerAdvert = z.infer<typeof WorkerAdvert>;

/** A failure as a worker reports it (BullMQ keeps only a message): a typed code rides along as JSON. */
export function encodeFailure(error: ApiError): string {
  return JSON.stringify({ code: error.code, message: error.message });
}

export function decodeFailure(reason: string | undefined): ApiError {
  const parsed = z.object({ code: ErrorCode, message: z.string().max(4096) }).safeParse(safeJson(reason ?? ''));
  if (parsed.success) return new ApiError(parsed.data.code, parsed.data.message);
  // Not ours (BullMQ's own: a job that stalled too often, a worker that vanished).
  return new ApiError('engine_failed', `The farm gave up on the job: ${String(reason ?? 'no reason given').slice(0, 500)}`);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function pngSha256(png: Buffer): string {
  return createHash('sha256').update(png).digest('hex');
}

/** Decodes one base64 PNG of a job or result, with the engine's size limits; a bad one is `bad_request`. */
export async function decodePngBase64(base64: string, label: string): Promise<{ image: RgbaImage; sha256: string }> {
  const bytes = Buffer.from(base64, 'base64');
  try {
    const image = await decodeImage(bytes, { label });
    return { image, sha256: pngSha256(bytes) };
  } catch (error) {
    throw new ApiError('bad_request', `The ${label} is not a readable PNG: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Parses with a schema; a mismatch is a `bad_request` naming what was wrong. */
export function parseOrRefuse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ApiError('bad_request', `${what} does not match the farm's contract: ${z.prettifyError(parsed.error).slice(0, 1000)}`);
  return parsed.data;
}
