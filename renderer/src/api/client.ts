import {
  API_VERSION,
  ApiError,
  ApiResponse,
  type MethodName,
  type Params,
  type Result,
  type StudioApi,
  StudioEvent,
} from '../../../app/contract/index.js';
import { type ConnectedApi, type ConnectionState } from './connection.js';

export { type ConnectedApi, type ConnectionSource, type ConnectionState, connectionOf } from './connection.js';

/** What the Electron preload exposes as `window.atelier`: two functions, nothing else. */
export interface AtelierBridge {
  invoke(request: unknown): Promise<unknown>;
  subscribe(listener: (event: unknown) => void): () => void;
}

declare global {
  interface Window {
    atelier?: AtelierBridge;
  }
}

function unwrap<M extends MethodName>(raw: unknown): Result<M> {
  const response = ApiResponse.safeParse(raw);
  if (!response.success) throw new ApiError('internal', 'Malformed response from the studio');
  if (!response.data.ok) throw ApiError.from(response.data.error);
  return response.data.result as Result<M>;
}

/** Desktop door: Electron IPC through the preload bridge. */
export function ipcClient(bridge: AtelierBridge): StudioApi {
  return {
    call: async <M extends MethodName>(method: M, params: Params<M>) =>
      unwrap<M>(await bridge.invoke({ v: API_VERSION, method, params })),
    subscribe: (listener) =>
      bridge.subscribe((raw) => {
        const event = StudioEvent.safeParse(raw);
        if (event.success) listener(event.data);
      }),
  };
}

/** Longest wait between two tries to reach a studio that went away: it is back within a second of listening. */
const MAX_RETRY_MS = 1000;

/**
 * Web door: POST /api/call and a WebSocket for events (the token travels as a cookie). A
 * closed socket means the studio went away: the state says so at once and the socket is
 * opened again until it answers (the studio comes back on the same port and token when it
 * can: main/web/session-file.ts).
 */
export function webClient(origin: string = window.location.origin): ConnectedApi {
  const listeners = new Set<(event: StudioEvent) => void>();
  const stateListeners = new Set<(state: ConnectionState) => void>();
  let state: ConnectionState = 'connecting';
  let socket: WebSocket | undefined;
  let retry = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const setState = (next: ConnectionState) => {
    if (next === state) return;
    state = next;
    for (const listener of stateListeners) listener(next);
  };

  const connect = () => {
    timer = undefined;
    const url = `${origin.replace(/^http/, 'ws')}/api/events`;
    const ws = new WebSocket(url);
    socket = ws;
    ws.onopen = () => {
      retry = 0;
      setState('connected');
    };
    ws.onmessage = (message) => {
      let data: unknown;
      try {
        data = JSON.parse(String(message.data));
      } catch {
        // Not JSON: not an event of ours; the socket goes on.
        return;
      }
      const event = StudioEvent.safeParse(data);
      if (!event.success) return;
      for (const listener of listeners) listener(event.data);
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = undefined;
      if (listeners.size === 0) return;
      setState('disconnected');
      timer = setTimeout(connect, Math.min(MAX_RETRY_MS, 100 * 2 ** retry++));
    };
  };

  return {
    async call<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
      let response: Response;
      try {
        response = await fetch(`${origin}/api/call`, {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ v: API_VERSION, method, params }),
        });
      } catch (error) {
        throw new ApiError('internal', `The studio server is not reachable: ${String(error)}`);
      }
      return unwrap<M>(await response.json());
    },
    subscribe(listener) {
      listeners.add(listener);
      if (!socket && !timer) connect();
      return () => {
        listeners.delete(listener);
        if (listeners.size > 0) return;
        if (timer) clearTimeout(timer);
        timer = undefined;
        const open = socket;
        socket = undefined;
        open?.close();
      };
    },
    connection: {
      get: () => state,
      subscribe(listener) {
        stateListeners.add(listener);
        return () => stateListeners.delete(listener);
      },
    },
  };
}

/** The one client the UI uses; components never know which door is behind it. */
export function createClient(): StudioApi {
  return window.atelier ? ipcClient(window.atelier) : webClient();
}
