import type { StudioApi } from '../../../app/contract/index.js';

// The connection state of a client, without DOM types, so that the state code that reads it
// type-checks in Node too (tests).

/**
 * Whether the studio is reachable (docs: issue 15, "connection and queue survive"): the web
 * door follows its event socket; the desktop door's IPC is always there.
 */
export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

export interface ConnectionSource {
  get(): ConnectionState;
  /** Called at every change; returns the unsubscribe function. */
  subscribe(listener: (state: ConnectionState) => void): () => void;
}

/** A client that can say whether its studio is reachable. */
export type ConnectedApi = StudioApi & { connection: ConnectionSource };

export function connectionOf(api: StudioApi): ConnectionSource | undefined {
  return 'connection' in api ? (api as ConnectedApi).connection : undefined;
}

