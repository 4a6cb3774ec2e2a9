import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EngineTransport, EngineTransportFactory, FromWorker } from './protocol.js';

export interface ForkOptions {
  /** Extra environment for the worker (merged over process.env). */
  env?: NodeJS.ProcessEnv;
  /** Worker entry; defaults to ./main.ts or ./main.js beside this file. */
  entry?: string;
}

const STDERR_KEEP = 8 * 1024;

/**
 * The engine worker as a Node child process. `serialization: 'advanced'` makes IPC use the
 * structured clone algorithm, so RGBA Uint8Arrays cross as bytes. Under tsx (running the .ts
 * sources) the child needs the tsx loader too.
 */
export function forkTransport(options: ForkOptions = {}): EngineTransport {
  const here = fileURLToPath(import.meta.url);
  const ext = path.extname(here);
  const entry = options.entry ?? path.join(path.dirname(here), `main${ext}`);
  const execArgv = entry.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child: ChildProcess = fork(entry, [], {
    serialization: 'advanced',
    execArgv,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    process.stderr.write(chunk);
    stderr = (stderr + chunk).slice(-STDERR_KEEP);
  });
  return {
    postMessage: (message) => {
      if (child.connected) child.send(message);
    },
    on: ((event: 'message' | 'exit', listener: (...args: never[]) => void) => {
      if (event === 'message') child.on('message', (m) => (listener as (m: FromWorker) => void)(m as FromWorker));
      else child.on('exit', listener as (code: number | null, signal: NodeJS.Signals | null) => void);
    }) as EngineTransport['on'],
    kill: () => child.kill('SIGKILL'),
    stderrTail: () => stderr,
  };
}

export const forkTransportFactory =
  (options: ForkOptions = {}): EngineTransportFactory =>
  () =>
    forkTransport(options);
