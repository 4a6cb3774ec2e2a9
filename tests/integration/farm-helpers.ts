import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// Test helpers for the render farm (docs/farm.md): a private redis-server on loopback with a
// random port, a password and AOF, and `atelier worker` processes. Waits are on conditions
// (a log line, an advert), never on fixed sleeps.

export interface RedisHandle {
  url: string;
  port: number;
  password: string;
  dir: string;
  /** Starts it again on the same port and data folder (AOF replays the queue). */
  start(): Promise<void>;
  /** SIGKILL: no shutdown save; only what AOF already has on disk survives. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `open`: no password at all (what the farm must refuse). */
export async function startRedis(options: { open?: boolean } = {}): Promise<RedisHandle> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-farm-redis-'));
  const password = crypto.randomBytes(16).toString('hex');
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const handle: RedisHandle = {
    url: `redis://:${password}@127.0.0.1:${port}`,
    port,
    password,
    dir,
    start: async () => {
      // appendfsync always: a write the queue acknowledged is on disk before the reply.
      const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', ...(options.open ? [] : ['--requirepass', password]), '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdio: ['ignore', 'pipe', 'pipe'] });
      proc = child;
      await new Promise<void>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 20_000);
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('Ready to accept connections')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`redis-server exited with ${code}: ${out}`));
        });
      });
    },
    kill: async () => stopProcess(proc, 'SIGKILL'),
    stop: async () => {
      await stopProcess(proc, 'SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await handle.start();
  return handle;
}

async function stopProcess(proc: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill(signal);
  await exited;
}

export interface WorkerHandle {
  id: string;
  /** Its ATELIER_HOME (fetched models are under farm/models). */
  home: string;
  proc: ChildProcess;
  log: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** An `atelier worker` process; resolves once it is connected and taking jobs. */
export async function startWorker(url: string, args: string[] = []): Promise<WorkerHandle> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-farm-worker-'));
  const proc = spawn(process.execPath, ['bin/atelier.mjs', 'worker', '--queue', url, '--lock-ms', '3000', '--stalled-ms', '1000', ...args], {
    env: { ...process.env, ATELIER_HOME: home, ATELIER_QUEUE: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stdout.on('data', (c: Buffer) => (log += c.toString()));
  const id = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start:\n${log}`)), 60_000);
    proc.stderr.on('data', (c: Buffer) => {
      log += c.toString();
      const m = /atelier worker (\S+): /.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code ?? signal}):\n${log}`));
    });
  });
  return {
    id,
    home,
    proc,
    log: () => log,
    stop: async (signal = 'SIGTERM') => {
      await stopProcess(proc, signal);
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns something other than undefined/false. */
export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
