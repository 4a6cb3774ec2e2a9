import type { MethodName, Methods, ParsedParams, Result, StudioEvent } from '../contract/index.js';

export type Transport = 'electron' | 'web' | 'cli';

/** What every handler may use: where data lives, and how to tell clients about things. */
export interface ServiceContext {
  readonly home: string;
  readonly transport: Transport;
  readonly startedAt: string;
  emit(event: StudioEvent): void;
}

export type Handler<M extends MethodName> = (
  params: ParsedParams<M>,
  ctx: ServiceContext,
) => Promise<Result<M>> | Result<M>;

/** Handlers for one area's members, e.g. AreaHandlers<typeof libraryMethods>. */
export type AreaHandlers<A> = { [M in keyof A & MethodName]: Handler<M> };

export type AllHandlers = AreaHandlers<Methods>;
