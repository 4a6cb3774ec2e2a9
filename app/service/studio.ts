import fs from 'node:fs/promises';
import { z } from 'zod';
import {
  API_VERSION,
  ApiError,
  ApiRequest,
  type ApiResponse,
  type MethodName,
  type Params,
  type Result,
  type StudioApi,
  type StudioEvent,
  isMethodName,
  methods,
} from '../contract/index.js';
import type { AllHandlers, Handler, ServiceContext, Transport } from './context.js';
import { resolveHome } from './home.js';
import { writeNewPng } from './image-export.js';
import { statusHandlers } from './status-handlers.js';

export type MediaKind = 'image' | 'thumbnail';
export type MediaResolver = (kind: MediaKind, sha256: string) => string | undefined;

export interface StudioServiceOptions {
  transport: Transport;
  /** Defaults to resolveHome(): ATELIER_HOME or the per-user data folder. */
  home?: string;
}

/**
 * The core behind every door: validates each request against the contract, runs its
 * handler, and turns every failure into a typed ApiError. Owns the event stream.
 */
export class StudioService implements StudioApi {
  readonly ctx: ServiceContext;
  private readonly listeners = new Set<(event: StudioEvent) => void>();
  private readonly handlers: Partial<AllHandlers>;
  private readonly closers: Array<() => Promise<void> | void> = [];
  private mediaResolver: MediaResolver | undefined;

  constructor(options: StudioServiceOptions) {
    const home = options.home ?? resolveHome();
    this.ctx = {
      home,
      transport: options.transport,
      startedAt: new Date().toISOString(),
      emit: (event) => this.emit(event),
    };
    this.handlers = { ...statusHandlers() };
  }

  /** Areas (library, projects, generation) register their handlers and their cleanup here. */
  register(handlers: Partial<AllHandlers>, close?: () => Promise<void> | void): void {
    Object.assign(this.handlers, handlers);
    if (close) this.closers.push(close);
  }

  /** The area that stores images tells the doors where a library image's file is (web mode's /media route). */
  setMediaResolver(resolver: MediaResolver): void {
    this.mediaResolver = resolver;
  }

  /** The file of a library image or thumbnail, or undefined when the library does not hold it. */
  mediaFile(kind: MediaKind, sha256: string): string | undefined {
    return /^[0-9a-f]{64}$/.test(sha256) ? this.mediaResolver?.(kind, sha256) : undefined;
  }

  /**
   * Writes a library image, exactly as recorded (its metadata stamped by the library), as a new
   * PNG `<baseName>.png` (or `-2`, `-3`, … when taken) in `dir`, atomically; for the doors that
   * write to the user's own folders (`atelier generate --out`). Returns the file written.
   */
  async saveImageAs(sha256: string, dir: string, baseName: string): Promise<string> {
    const file = this.mediaFile('image', sha256);
    if (!file) throw new ApiError('not_found', `The library holds no image ${sha256}`);
    return writeNewPng(dir, baseName, await fs.readFile(file));
  }

  /** Typed in-process call (the CLI's door). Throws ApiError. */
  async call<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
    const parsed = parseParams(method, params);
    const handler = this.handlers[method] as Handler<M> | undefined;
    if (!handler) throw new ApiError('unknown_method', `StudioApi member "${method}" is not available here`);
    try {
      const result = await handler(parsed as never, this.ctx);
      return methods[method].result.parse(result) as Result<M>;
    } catch (error) {
      throw toApiError(error);
    }
  }

  /**
   * Untyped entry for transports (HTTP, IPC): anything may arrive. Never throws; a malformed
   * request becomes a `bad_request` response.
   */
  async handle(raw: unknown): Promise<ApiResponse> {
    const envelope = ApiRequest.safeParse(raw);
    if (!envelope.success) {
      const versionIssue = envelope.error.issues.find((i) => i.path[0] === 'v');
      const message = versionIssue
        ? `This studio speaks StudioApi version ${API_VERSION}`
        : 'Malformed StudioApi request';
      return failure(new ApiError('bad_request', message, z.treeifyError(envelope.error)));
    }
    const { method, params } = envelope.data;
    if (!isMethodName(method)) return failure(new ApiError('unknown_method', `Unknown StudioApi member "${method}"`));
    try {
      return { ok: true, result: await this.call(method, (params ?? {}) as never) };
    } catch (error) {
      return failure(toApiError(error));
    }
  }

  subscribe(listener: (event: StudioEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: StudioEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // One broken subscriber must not starve the others.
      }
    }
  }

  async close(): Promise<void> {
    for (const close of this.closers.reverse()) await close();
    this.closers.length = 0;
    this.listeners.clear();
  }
}

function parseParams<M extends MethodName>(method: M, params: unknown): unknown {
  const schema: z.ZodType = methods[method].params;
  const parsed = schema.safeParse(params ?? {});
  if (!parsed.success) {
    throw new ApiError('bad_request', `Invalid parameters for "${method}": ${z.prettifyError(parsed.error)}`, z.treeifyError(parsed.error));
  }
  return parsed.data;
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof z.ZodError) {
    // A handler returned something outside the contract: our bug, not the caller's.
    return new ApiError('internal', `Result did not match the contract: ${z.prettifyError(error)}`);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ApiError('internal', message);
}

function failure(error: ApiError): ApiResponse {
  return { ok: false, error: error.toJSON() };
}
