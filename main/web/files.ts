import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError, ExportFormat, type ApiResponse } from '../../app/contract/index.js';
import type { StudioService } from '../../app/service/index.js';

// Web mode's own file doors: a browser cannot hand the studio a path on its machine, nor
// receive a file written to one. Uploads land under <home>/projects/uploads and open through
// the projects area (which validates hostile files); exports are written under <home>/exports
// and fetched by an opaque id, never by a path. The server's onRequest hook has already
// checked the token, Host and Origin before any of these routes runs.

export const DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024;
/** How long an export waits to be downloaded (a retry, a second click) before it is swept. */
const EXPORT_LIFETIME_MS = 60 * 60 * 1000;
/**
 * An uploaded .atelier stays while its project is worked on (Save writes back to it, which
 * renews its time); one untouched this long is swept (issue 17: they stayed forever).
 */
export const UPLOAD_LIFETIME_MS = 24 * 60 * 60 * 1000;
/**
 * Upload bodies all requests in flight may hold at once: each is held whole in memory, so
 * several large ones together are refused as busy before their bodies are read (issue 17).
 * Decoding them draws on the projects code's own budget (app/projects/zip.ts DECODE_BUDGET).
 */
export const DEFAULT_MAX_CONCURRENT_UPLOAD_BYTES = 1024 * 1024 * 1024;

const UPLOAD_EXTENSIONS = new Set(['.atelier', '.ora', '.psd']);
const EXPORT_EXTENSIONS: Record<ExportFormat | 'atelier', string> = { png: '.png', ora: '.ora', psd: '.psd', 'contact-sheet': '.png', atelier: '.atelier' };
const DOWNLOAD_ID = /^[0-9a-f]{32}$/;

export const DownloadRequest = z
  .object({
    sessionId: z.string().min(1).max(64),
    format: z.union([ExportFormat, z.literal('atelier')]),
    generationId: z.string().min(1).max(64).optional(),
    /** Whether the project has no file yet: a first save goes to <home>/projects under a unique name. */
    firstSave: z.boolean().default(false),
    /** The project's name, for the downloaded file's name. */
    name: z.string().max(256).default('project'),
  })
  .strict();

export interface PreparedDownload {
  id: string;
  /** The name the browser saves it under. */
  filename: string;
  bytes: number;
  /** For format 'atelier': the project file the session now saves to. */
  savedPath?: string;
  savedAt?: string;
}

/**
 * A file name safe to put in a folder and a header: the base name only, characters outside
 * letters, digits, dot, dash and underscore replaced, no leading dots, bounded length.
 */
export function safeFileStem(name: string, fallback = 'project'): string {
  const base = path.basename(name.replaceAll('\\', '/'));
  const stem = base
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+/, '')
    .slice(0, 80);
  return stem || fallback;
}

export function registerFileRoutes(app: FastifyInstance, options: { service: StudioService; maxUploadBytes?: number; maxConcurrentUploadBytes?: number }): void {
  const { service } = options;
  const home = service.ctx.home;
  const uploads = path.join(home, 'projects', 'uploads');
  const exportsDir = path.join(home, 'exports');
  const maxUploadBytes = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const maxConcurrentUploadBytes = options.maxConcurrentUploadBytes ?? DEFAULT_MAX_CONCURRENT_UPLOAD_BYTES;
  /** Declared body bytes of uploads being received or opened right now. */
  let uploadBytesInFlight = 0;
  // Uploads left by earlier runs are swept when the server starts, then at every upload.
  void sweepOld(uploads, UPLOAD_LIFETIME_MS);
  /** Download ids the browser may fetch, with the name to save under; ids never leave this map as paths. */
  const prepared = new Map<string, { file: string; filename: string; createdAt: number }>();

  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: maxUploadBytes }, (_request, body, done) => done(null, body));

  const STATUS: Partial<Record<string, number>> = { bad_request: 400, invalid_file: 400, not_found: 404, conflict: 409, busy: 503 };
  const statusOf = (error: unknown) => (error instanceof ApiError ? (STATUS[error.code] ?? 500) : 500);

  // Open from this computer: the raw file is the body, its name a query parameter.
  const uploadRoute = {
    bodyLimit: maxUploadBytes,
    // Before the body is read: its declared length is what it will hold (bodyLimit caps a lie).
    onRequest: async (request: FastifyRequest, reply: FastifyReply) => {
      const declared = Math.min(Number(request.headers['content-length'] ?? maxUploadBytes) || maxUploadBytes, maxUploadBytes);
      if (uploadBytesInFlight + declared > maxConcurrentUploadBytes) {
        return reply.code(503).send(failure(new ApiError('busy', `Other uploads are being opened; at most ${maxConcurrentUploadBytes} bytes are taken at once. Try again when they are done.`, { limitBytes: maxConcurrentUploadBytes })));
      }
      uploadBytesInFlight += declared;
      // 'close' comes once whether the answer was sent or the client went away mid-upload.
      reply.raw.once('close', () => {
        uploadBytesInFlight -= declared;
      });
      return undefined;
    },
  };

  app.post<{ Querystring: { name?: string } }>('/api/files/open', uploadRoute, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    if (!String(request.headers['content-type'] ?? '').startsWith('application/octet-stream')) {
      return reply.code(415).send(failure(new ApiError('bad_request', 'Upload the file itself as application/octet-stream')));
    }
    const given = String(request.query.name ?? '');
    const ext = path.extname(given).toLowerCase();
    if (!UPLOAD_EXTENSIONS.has(ext)) {
      return reply.code(400).send(failure(new ApiError('bad_request', `Atelier opens .atelier, .ora and .psd files, not "${given || '(no name)'}"`)));
    }
    const body = request.body as Buffer;
    if (!Buffer.isBuffer(body) || body.length === 0) return reply.code(400).send(failure(new ApiError('bad_request', 'The uploaded file is empty')));
    await fs.mkdir(uploads, { recursive: true });
    await sweepOld(uploads, UPLOAD_LIFETIME_MS);
    const stem = safeFileStem(path.basename(given, path.extname(given)));
    const file = path.join(uploads, `${stem}-${crypto.randomBytes(6).toString('hex')}${ext}`);
    await fs.writeFile(file, body, { flag: 'wx' });
    try {
      const opened = await service.call('projects.open', { path: file });
      // Only an .atelier keeps its file (Save writes back to it); .ora and .psd open as new
      // unsaved projects, so their upload has served its purpose.
      if (ext !== '.atelier') await fs.rm(file, { force: true });
      return { ok: true, result: opened } satisfies ApiResponse;
    } catch (error) {
      // A refused file (hostile, corrupt, wrong kind) leaves nothing behind.
      await fs.rm(file, { force: true });
      return reply.code(statusOf(error)).send(failure(error));
    }
  });

  // Export (or save) an open project into <home>/exports; answers the id to download it by.
  app.post('/api/files/export', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const parsed = DownloadRequest.safeParse(request.body);
    if (!parsed.success) return reply.code(400).send(failure(new ApiError('bad_request', `Malformed export request: ${z.prettifyError(parsed.error)}`)));
    const { sessionId, format, generationId, firstSave } = parsed.data;
    const stem = safeFileStem(parsed.data.name);
    await sweepExports(exportsDir, prepared);
    await fs.mkdir(exportsDir, { recursive: true });
    const id = crypto.randomBytes(16).toString('hex');
    const file = path.join(exportsDir, `${id}${EXPORT_EXTENSIONS[format]}`);
    try {
      let result: PreparedDownload;
      if (format === 'atelier') {
        // The download is a copy of the project file, so the project is saved first: to its
        // own file, or on a first save to a new one in the studio's projects folder.
        const saved = firstSave
          ? await service.call('projects.saveAs', { sessionId, path: path.join(home, 'projects', `${stem}-${id.slice(0, 8)}.atelier`), assets: {} })
          : await service.call('projects.save', { sessionId, assets: {} });
        await fs.copyFile(saved.path, file);
        const { size } = await fs.stat(file);
        result = { id, filename: `${stem}.atelier`, bytes: size, savedPath: saved.path, savedAt: saved.savedAt };
      } else {
        const exported = await service.call('projects.export', { sessionId, format, out: file, ...(generationId ? { generationId } : {}) });
        result = { id, filename: format === 'contact-sheet' ? `${stem}-contact-sheet.png` : `${stem}${EXPORT_EXTENSIONS[format]}`, bytes: exported.bytes };
      }
      prepared.set(id, { file, filename: result.filename, createdAt: Date.now() });
      return { ok: true, result };
    } catch (error) {
      await fs.rm(file, { force: true });
      return reply.code(statusOf(error)).send(failure(error));
    }
  });

  app.get<{ Params: { id: string } }>('/api/files/download/:id', async (request, reply) => {
    const { id } = request.params;
    const entry = DOWNLOAD_ID.test(id) ? prepared.get(id) : undefined;
    const exists = entry ? await fs.stat(entry.file).then((s) => s.isFile(), () => false) : false;
    if (!entry || !exists) return reply.code(404).send(failure(new ApiError('not_found', 'No such download (exports are kept for an hour)')));
    const ascii = entry.filename.replace(/[^A-Za-z0-9._-]/g, '_');
    reply.header('content-disposition', `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(entry.filename)}`);
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    return reply.type('application/octet-stream').send(await fs.readFile(entry.file));
  });
}

async function sweepExports(dir: string, prepared: Map<string, { file: string; createdAt: number }>): Promise<void> {
  const now = Date.now();
  for (const [id, entry] of prepared) if (now - entry.createdAt > EXPORT_LIFETIME_MS) prepared.delete(id);
  // Files from an earlier run have no id in the map any more: they can only be swept.
  await sweepOld(dir, EXPORT_LIFETIME_MS);
}

/** The answer for a refused request: an ApiError as it is, anything else as `internal`. */
export function failure(error: unknown): ApiResponse {
  const apiError = error instanceof ApiError ? error : new ApiError('internal', error instanceof Error ? error.message : String(error));
  return { ok: false, error: apiError.toJSON() };
}

/** Removes entries of `dir` (files, or a model upload's batch folders) not modified for `lifetimeMs`: uploads whose project or import was left. */
export async function sweepOld(dir: string, lifetimeMs: number): Promise<void> {
  const now = Date.now();
  const names = await fs.readdir(dir).catch(() => [] as string[]); // no folder yet: nothing to sweep
  await Promise.all(
    names.map(async (name) => {
      const file = path.join(dir, name);
      const stat = await fs.stat(file).catch(() => undefined); // swept meanwhile by a concurrent upload
      // One that cannot be removed now is tried again at the next sweep.
      if (stat && now - stat.mtimeMs > lifetimeMs) await fs.rm(file, { recursive: true, force: true }).catch(() => undefined);
    }),
  );
}
