import fs from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError, CHECKPOINT_COMPANIONS, CHECKPOINT_CONTENT_TYPE, type ApiResponse, type StudioEvent } from '../../app/contract/index.js';
import type { StudioService } from '../../app/service/index.js';
import { failure, safeFileStem, sweepOld } from './files.js';

// Web mode's model import from the browser's file picker (docs/models.md, "The model
// manager"): a browser cannot hand the studio a path on its machine, so the checkpoint's bytes
// are streamed to disk (never held in memory: checkpoints are gigabytes) and imported from
// there by the ordinary `models.import` job, whose progress the manager shows. Files the
// importer reads beside a checkpoint (A1111's NAME.yaml and NAME.preview.png, Atelier's
// NAME.atelier.json) travel first in the same batch, into the same folder, under the same
// stem. The batch's folder is removed when the job ends, however it ends. The server's
// onRequest hook has checked the token, Host and Origin before this route runs.

/** SDXL checkpoints stored in float32 are about 13 GB. */
export const DEFAULT_MAX_CHECKPOINT_BYTES = 32 * 1024 ** 3;
const MAX_COMPANION_BYTES = 16 * 1024 * 1024;
/** Free space left on the disk after an upload: an import then writes about as much again. */
const DISK_MARGIN_BYTES = 1024 ** 3;
/** Uploads whose import never ended (a crash, a batch without its checkpoint) are swept after this long. */
const STALE_MS = 24 * 60 * 60 * 1000;
const BATCH = /^[a-z0-9]{8,32}$/;
/** What a file may be: the checkpoint, or a companion the importer reads beside it. */
const KINDS = ['.safetensors', ...CHECKPOINT_COMPANIONS] as const;

export function uploadsFolder(home: string): string {
  return path.join(home, 'uploads', 'models');
}

export function registerModelUpload(app: FastifyInstance, options: { service: StudioService; maxBytes?: number }): void {
  const { service } = options;
  const root = uploadsFolder(service.ctx.home);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_CHECKPOINT_BYTES;
  void sweepOld(root, STALE_MS);
  /** A refusal before the body was read: the connection closes after it, rather than carrying the unread rest into the next request. */
  const refuse = (reply: FastifyReply, status: number, error: ApiError) => reply.code(status).header('connection', 'close').send(failure(error));

  // This content type's body arrives as a stream, not parsed into a buffer (a project upload's octet-stream is).
  app.addContentTypeParser(CHECKPOINT_CONTENT_TYPE, (_request, payload, done) => done(null, payload));
  app.post<{ Querystring: { name?: string; batch?: string; as?: string } }>('/api/models/upload', { bodyLimit: maxBytes }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const given = String(request.query.name ?? '');
    const kind = KINDS.find((k) => given.toLowerCase().endsWith(k));
    if (!kind) {
      return refuse(reply, 400, new ApiError('bad_request', `Upload a .safetensors checkpoint (with its .yaml, .preview.png or .atelier.json), not "${given || '(no name)'}" (pickles can run code; import a diffusers folder by its path)`));
    }
    const batch = String(request.query.batch ?? '');
    if (!BATCH.test(batch)) return refuse(reply, 400, new ApiError('bad_request', 'The upload names no batch (8–32 lowercase letters and digits)'));
    const declared = Number(request.headers['content-length']);
    if (!Number.isSafeInteger(declared) || declared <= 0) return refuse(reply, 411, new ApiError('bad_request', 'The upload must say its length (Content-Length)'));
    const limit = kind === '.safetensors' ? maxBytes : MAX_COMPANION_BYTES;
    if (declared > limit) return refuse(reply, 413, new ApiError('bad_request', `${given} is ${declared} bytes; uploads take at most ${limit}`, { limitBytes: limit }));
    const dir = path.join(root, batch);
    fs.mkdirSync(dir, { recursive: true });
    const stat = await fs.promises.statfs(dir);
    const free = stat.bavail * stat.bsize;
    if (declared + DISK_MARGIN_BYTES > free) {
      return refuse(reply, 507, new ApiError('busy', `Not enough free disk space for the upload and its import: ${declared} bytes asked, ${free} free in ${root}`, { freeBytes: free }));
    }
    // The same stem for a checkpoint and its companions, so the importer finds them beside it.
    const stem = safeFileStem(given.slice(0, given.length - kind.length), 'model');
    const file = path.join(dir, `${stem}${kind}`);
    const partial = `${file}.part`;
    let received = 0;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        callback(received > declared ? new ApiError('bad_request', `The upload sent more than its declared ${declared} bytes`) : null, chunk);
      },
    });
    try {
      await pipeline(request.body as Readable, count, fs.createWriteStream(partial, { flags: 'wx' }));
      if (received !== declared) throw new ApiError('bad_request', `The upload ended after ${received} of ${declared} bytes`);
      if (fs.existsSync(file)) throw new ApiError('conflict', `${path.basename(file)} was uploaded in this batch already`);
      fs.renameSync(partial, file);
    } catch (error) {
      fs.rmSync(partial, { force: true });
      if (fs.readdirSync(dir).length === 0) fs.rmSync(dir, { recursive: true, force: true });
      // A browser that went away hears nothing; one still there is told why.
      const apiError = error instanceof ApiError ? error : new ApiError('bad_request', `The upload failed: ${error instanceof Error ? error.message : String(error)}`);
      return reply.code(apiError.code === 'conflict' ? 409 : 400).send(failure(apiError));
    }
    if (kind !== '.safetensors') return { ok: true, result: { stored: path.basename(file) } } satisfies ApiResponse;

    // The checkpoint came last: its import starts. Its events are watched from before it
    // starts, so that its end is never missed; then the batch's folder goes.
    const seen: StudioEvent[] = [];
    let jobId: string | undefined;
    const ended = (e: StudioEvent) => e.type === 'models.job' && e.jobId === jobId && (e.state === 'completed' || e.state === 'failed' || e.state === 'cancelled');
    const remove = () => {
      unsubscribe();
      fs.rmSync(dir, { recursive: true, force: true });
    };
    const unsubscribe = service.subscribe((e) => {
      if (jobId === undefined) seen.push(e);
      else if (ended(e)) remove();
    });
    try {
      const name = String(request.query.as ?? '').trim() || stem;
      ({ jobId } = await service.call('models.import', { path: file, name }));
    } catch (error) {
      remove();
      const apiError = error instanceof ApiError ? error : new ApiError('internal', error instanceof Error ? error.message : String(error));
      return reply.code(apiError.code === 'conflict' ? 409 : 400).send(failure(apiError));
    }
    if (seen.some(ended)) remove();
    return { ok: true, result: { jobId } } satisfies ApiResponse;
  });
}
