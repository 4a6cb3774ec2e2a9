import path from 'node:path';
import type { ForkOptions, UtilityProcess } from 'electron';

// The engine worker hosted in an Electron utilityProcess: the same worker entry web mode
// forks as a Node child (app/engine/worker/main.ts, which talks over process.parentPort
// when it has one). Not child_process.fork: in an installed app the RunAsNode fuse is off,
// so Electron's binary cannot be started as plain Node — utilityProcess needs no such mode,
// and a native crash or OOM in onnxruntime takes down only that process.
//
// This has the shape of app/engine/worker/protocol.ts's EngineTransport (postMessage,
// on('message' | 'exit'), kill, stderrTail); the fork function is injected so tests drive it
// with a fake UtilityProcess.

export interface WorkerTransport<In = unknown, Out = unknown> {
  postMessage(message: In): void;
  on(event: 'message', listener: (message: Out) => void): void;
  on(event: 'exit', listener: (code: number | null, signal?: string | null) => void): void;
  kill(): boolean;
  stderrTail(): string;
}

export type UtilityFork = (modulePath: string, args?: string[], options?: ForkOptions) => Pick<UtilityProcess, 'on' | 'postMessage' | 'kill' | 'stderr'>;

export interface UtilityTransportOptions {
  /** The bundled worker entry (dist-electron/app/engine/worker/main.cjs). */
  entry: string;
  /** Extra environment for the worker, over process.env. */
  env?: NodeJS.ProcessEnv;
}

/** How much of the worker's stderr is kept for a crash report. */
const STDERR_KEEP = 8 * 1024;

/** Where build-electron.mjs puts the worker, relative to the app root. */
export function bundledWorkerEntry(appRoot: string): string {
  return path.join(appRoot, 'dist-electron', 'app', 'engine', 'worker', 'main.cjs');
}

export function utilityProcessTransport<In = unknown, Out = unknown>(fork: UtilityFork, options: UtilityTransportOptions): WorkerTransport<In, Out> {
  const child = fork(options.entry, [], {
    serviceName: 'Atelier engine',
    // stdin must be 'ignore' for a utility process; stderr is piped for crash reports.
    stdio: ['ignore', 'inherit', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let exited = false;
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer | string) => {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    process.stderr.write(text);
    stderr = (stderr + text).slice(-STDERR_KEEP);
  });
  child.on('exit', () => {
    exited = true;
  });

  function on(event: 'message', listener: (message: Out) => void): void;
  function on(event: 'exit', listener: (code: number | null, signal?: string | null) => void): void;
  function on(event: 'message' | 'exit', listener: ((message: Out) => void) | ((code: number | null, signal?: string | null) => void)): void {
    if (event === 'message') child.on('message', listener as (message: Out) => void);
    // utilityProcess reports only an exit code (a signal shows as a non-zero code).
    else child.on('exit', (code) => (listener as (code: number | null, signal?: string | null) => void)(code, null));
  }

  return {
    postMessage: (message) => {
      // A message to a dead worker is dropped; the client learns of the death from 'exit'.
      if (!exited) child.postMessage(message);
    },
    on,
    kill: () => (exited ? false : child.kill()),
    stderrTail: () => stderr,
  };
}
