import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type EngineModule, EngineHost } from './host.js';
import { type FromWorker, type ToWorker, WORKER_TEST_HOOKS_ENV } from './protocol.js';

// Entry of the engine worker process: a child_process.fork child (web mode, CLI, tests) or an
// Electron utilityProcess (desktop, where `process.parentPort` is the channel). Everything
// else lives in EngineHost; this file only wires the channel and the engine module.

/** Test-only: a module path to load instead of the real engine (honoured only with the test hooks on). */
export const WORKER_ENGINE_MODULE_ENV = 'ATELIER_WORKER_ENGINE_MODULE';

interface ParentPort {
  on(event: 'message', listener: (event: { data: unknown }) => void): void;
  postMessage(message: unknown): void;
}

const testHooks = process.env[WORKER_TEST_HOOKS_ENV] === '1';

async function loadEngine(): Promise<EngineModule> {
  const override = testHooks ? process.env[WORKER_ENGINE_MODULE_ENV] : undefined;
  if (override) return (await import(pathToFileURL(path.resolve(override)).href)) as EngineModule;
  // Same extension as this file: .ts under tsx (source), .js once built.
  const here = fileURLToPath(import.meta.url);
  const engineIndex = path.join(path.dirname(here), '..', `index${path.extname(here)}`);
  return (await import(pathToFileURL(engineIndex).href)) as EngineModule;
}

function channel(): { send(message: FromWorker): void; onMessage(listener: (message: ToWorker) => void): void } {
  const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;
  if (parentPort) {
    return {
      send: (message) => parentPort.postMessage(message),
      onMessage: (listener) => parentPort.on('message', (event) => listener(event.data as ToWorker)),
    };
  }
  if (!process.send) throw new Error('The engine worker must be started by the studio (no IPC channel)');
  return {
    send: (message) => process.send?.(message),
    onMessage: (listener) => process.on('message', (message) => listener(message as ToWorker)),
  };
}

async function main(): Promise<void> {
  const port = channel();
  const engine = await loadEngine();
  const host = new EngineHost(engine, (message) => port.send(message));
  port.onMessage((message) => {
    if (message?.type === 'test.crash') {
      if (!testHooks) return;
      if (message.how === 'abort') process.abort(); // SIGABRT, as a native crash would
      if (message.how === 'kill') process.kill(process.pid, 'SIGKILL'); // as the OOM killer would
      process.exit(134);
    }
    host.handle(message);
  });
  // The studio went away: nothing left to work for.
  process.on('disconnect', () => process.exit(0));
  port.send({ type: 'ready', pid: process.pid });
}

main().catch((error: unknown) => {
  console.error(`atelier engine worker failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(70);
});
