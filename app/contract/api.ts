import { z } from 'zod';
import { assetsMethods } from './assets.js';
import { desktopEvents } from './desktop.js';
import { ApiErrorShape } from './errors.js';
import { generationEvents, generationMethods } from './generation.js';
import { libraryEvents, libraryMethods } from './library.js';
import { modelsEvents, modelsMethods } from './models.js';
import { projectsEvents, projectsMethods } from './projects.js';
import { statusMethods } from './status.js';

/**
 * StudioApi version. Bump on any incompatible change to a request, response or event; a
 * request that names another version is refused with `bad_request`.
 */
export const API_VERSION = 1;

/** Every StudioApi member: its params schema and its result schema. */
export const methods = {
  ...statusMethods,
  ...libraryMethods,
  ...projectsMethods,
  ...generationMethods,
  ...modelsMethods,
  ...assetsMethods,
} as const;

export type Methods = typeof methods;
export type MethodName = keyof Methods;
/** What a caller passes (schema input: defaults may be omitted). */
export type Params<M extends MethodName> = z.input<Methods[M]['params']>;
/** What a handler receives (schema output: defaults filled in). */
export type ParsedParams<M extends MethodName> = z.output<Methods[M]['params']>;
export type Result<M extends MethodName> = z.output<Methods[M]['result']>;

export const methodNames = Object.keys(methods) as MethodName[];

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.hasOwn(methods, name);
}

/** The envelope of one call, the same over IPC, HTTP and in-process. */
export const ApiRequest = z
  .object({
    v: z.literal(API_VERSION),
    method: z.string().min(1).max(64),
    params: z.unknown().optional(),
  })
  // Strict like every params schema: a key nobody reads is a client bug or a probe (issue 17).
  .strict();
export type ApiRequest = z.infer<typeof ApiRequest>;

export const ApiResponse = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: ApiErrorShape }),
]);
export type ApiResponse = z.infer<typeof ApiResponse>;

/** Sent once when an event stream opens, so a client knows it is live. */
export const HelloEvent = z.object({
  type: z.literal('hello'),
  apiVersion: z.literal(API_VERSION),
});

export const StudioEvent = z.discriminatedUnion('type', [
  HelloEvent,
  ...generationEvents,
  ...libraryEvents,
  ...projectsEvents,
  ...modelsEvents,
  ...desktopEvents,
]);
export type StudioEvent = z.infer<typeof StudioEvent>;

/**
 * The one interface every door implements: Electron IPC, HTTP + WebSocket, in-process.
 * Components never know which one they hold.
 */
export interface StudioApi {
  call<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>>;
  /** Returns an unsubscribe function. */
  subscribe(listener: (event: StudioEvent) => void): () => void;
}
