import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { type UtilityFork, bundledWorkerEntry, utilityProcessTransport } from '../../main/electron/engine-transport.js';

/** A fake UtilityProcess: records what main posts, and lets the test play the worker. */
function fakeUtilityProcess() {
  const child = Object.assign(new EventEmitter(), {
    posted: [] as unknown[],
    killed: 0,
    stderr: new PassThrough(),
    stdout: null,
    postMessage(message: unknown) {
      child.posted.push(message);
    },
    kill() {
      child.killed++;
      return true;
    },
  });
  const forks: Array<{ modulePath: string; args?: string[]; options?: Parameters<UtilityFork>[2] }> = [];
  const fork = ((modulePath: string, args?: string[], options?: Parameters<UtilityFork>[2]) => {
    forks.push({ modulePath, args, options });
    return child;
  }) as unknown as UtilityFork;
  return { child, fork, forks };
}

describe('the engine worker in a utilityProcess (fake Electron)', () => {
  it('forks the bundled worker entry with stdin ignored and stderr piped', () => {
    const { fork, forks } = fakeUtilityProcess();
    utilityProcessTransport(fork, { entry: '/app/dist-electron/app/engine/worker/main.cjs', env: { ATELIER_HOME: '/data' } });
    expect(forks).toHaveLength(1);
    expect(forks[0]!.modulePath).toBe('/app/dist-electron/app/engine/worker/main.cjs');
    expect(forks[0]!.options).toMatchObject({ serviceName: 'Atelier engine', stdio: ['ignore', 'inherit', 'pipe'] });
    expect((forks[0]!.options?.env as Record<string, string>).ATELIER_HOME).toBe('/data');
  });

  it('carries messages both ways, structured (typed arrays stay typed)', () => {
    const { child, fork } = fakeUtilityProcess();
    const transport = utilityProcessTransport<{ type: string }, { type: string; pixels?: Uint8Array }>(fork, { entry: 'w.cjs' });
    const received: unknown[] = [];
    transport.on('message', (message) => received.push(message));
    transport.postMessage({ type: 'release' });
    const result = { type: 'result', pixels: new Uint8Array([1, 2, 3]) };
    child.emit('message', result);
    expect(child.posted).toEqual([{ type: 'release' }]);
    expect(received).toEqual([result]);
    expect((received[0] as typeof result).pixels).toBeInstanceOf(Uint8Array);
  });

  it('reports the exit, then drops messages and kills no more', () => {
    const { child, fork } = fakeUtilityProcess();
    const transport = utilityProcessTransport(fork, { entry: 'w.cjs' });
    const exits: unknown[][] = [];
    transport.on('exit', (...args) => exits.push(args));
    expect(transport.kill()).toBe(true);
    child.emit('exit', 134);
    expect(exits).toEqual([[134, null]]);
    transport.postMessage({ type: 'generate' });
    expect(child.posted).toEqual([]);
    expect(transport.kill()).toBe(false);
    expect(child.killed).toBe(1);
  });

  it('keeps the tail of the worker’s stderr for the crash report', () => {
    const { child, fork } = fakeUtilityProcess();
    const transport = utilityProcessTransport(fork, { entry: 'w.cjs' });
    const write = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write; // keep the test output clean
    try {
      child.stderr.write('x'.repeat(10_000));
      child.stderr.write('onnxruntime: std::bad_alloc\n');
    } finally {
      process.stderr.write = write;
    }
    expect(transport.stderrTail()).toMatch(/bad_alloc\n$/);
    expect(transport.stderrTail().length).toBe(8 * 1024);
  });

  it('looks for the worker where build-electron.mjs puts it', () => {
    expect(bundledWorkerEntry('/opt/Atelier/resources/app.asar')).toBe(path.join('/opt/Atelier/resources/app.asar', 'dist-electron', 'app', 'engine', 'worker', 'main.cjs'));
  });
});

describe('main/electron layering', () => {
  const glue = new Set(['main.ts', 'preload.ts']);
  const files = fs.readdirSync('main/electron').filter((f) => f.endsWith('.ts'));

  it('imports electron at run time only in the glue (main.ts, preload.ts); the rest is testable without the binary', () => {
    const runtimeImporters = files.filter((file) => {
      const source = fs.readFileSync(path.join('main/electron', file), 'utf8');
      return /^import\s+(?!type\b)[^;]*from\s+'electron(\/[^']*)?';/m.test(source) || /require\('electron'\)/.test(source);
    });
    expect(runtimeImporters.sort()).toEqual([...glue].sort());
  });

  it('lets tests import main/electron’s modules but not electron itself', async () => {
    // A snippet at a path that does not exist has no type information: lint it without the
    // type-aware rules, as folder-rules.test.ts does.
    const eslint = new ESLint({ cwd: process.cwd(), overrideConfig: [{ files: ['**/*.ts'], ...tseslint.configs.disableTypeChecked }] });
    const lint = async (code: string) => ((await eslint.lintText(code, { filePath: 'tests/unit/x.test.ts' }))[0]?.messages ?? []).map((m) => m.ruleId);
    expect(await lint("import { CALL_CHANNEL } from '../../main/electron/channels.js';\nexport const a = CALL_CHANNEL;\n")).not.toContain('no-restricted-imports');
    expect(await lint("import { app } from 'electron';\nexport const a = app;\n")).toContain('no-restricted-imports');
    expect(await lint("import { ipcMain } from 'electron/main';\nexport const a = ipcMain;\n")).toContain('no-restricted-imports');
  });
});
