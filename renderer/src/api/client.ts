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

/** Web door: POST /api/call and a WebSocket for events (the token travels as a cookie). */
export function webClient(origin: string = window.location.origin): StudioApi {
  const listeners = new Set<(event: StudioEvent) => void>();
  let socket: WebSocket | undefined;
  let retry = 0;

  const connect = () => {
    const url = `${origin.replace(/^http/, 'ws')}/api/events`;
    socket = new WebSocket(url);
    socket.onmessage = (message) => {
      let data: unknown;
      try {
        data = JSON.parse(String(message.data));
      } catch {
        return;
      }
      const event = StudioEvent.safeParse(data);
      if (!event.success) return;
      retry = 0;
      for (const listener of listeners) listener(event.data);
    };
    socket.onclose = () => {
      socket = undefined;
      if (listeners.size > 0) setTimeout(connect, Math.min(5000, 250 * 2 ** retry++));
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
      if (!socket) connect();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) socket?.close();
      };
    },
  };
}

/** The one client the UI uses; components never know which door is behind it. */
export function createClient(): StudioApi {
  return window.atelier ? ipcClient(window.atelier) : webClient();
}
