import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { tempHome } from '../helpers/home.js';
import { StudioPage } from './pages/studio-page.js';

/** Debian's chromium, or the one CHROMIUM_PATH names. Never a downloaded browser. */
export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].filter(Boolean) as string[];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error('No Chromium found: install Debian\'s chromium (apt-get install chromium) or set CHROMIUM_PATH');
  return found;
}

export interface Studio {
  url: string;
  origin: string;
  home: string;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Server output so far, for failure messages. */
  log: () => string;
  stop: () => Promise<void>;
  /** Kills the server without a clean shutdown (a crash), then closes the browser. */
  crash: () => Promise<void>;
}

export interface StartOptions {
  /** Fills the fresh ATELIER_HOME before the server starts (a library, models, projects). */
  seedHome?: (home: string) => void | Promise<void>;
}

/**
 * Starts `main/web/start.ts` on a free port with a fresh ATELIER_HOME, as a newcomer's
 * `npm run web` would, and opens its printed URL in headless Chromium. Most files want
 * useStudio() below; this is for a test that needs a second server of its own (a restart).
 */
export async function startStudio(env: Record<string, string> = {}, options: StartOptions = {}): Promise<Studio> {
  const { home, cleanup } = tempHome('atelier-e2e-');
  try {
    await options.seedHome?.(home);
  } catch (error) {
    cleanup();
    throw error;
  }
  const server: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'main/web/start.ts', '--port', '0', '--no-open'], {
    env: { ...process.env, ATELIER_HOME: home, CI: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = () => server.exitCode !== null || server.signalCode !== null;
  const ended = () => new Promise((r) => (exited() ? r(undefined) : server.once('exit', r)));
  let browser: Browser | undefined;
  // A set-up that fails half-way (server never printed its URL, Chromium did not launch)
  // must not leave a server running for the rest of the suite.
  const abandon = async (error: unknown): Promise<never> => {
    await browser?.close().catch(() => undefined); // already failing: the set-up error is the one to report
    server.kill('SIGKILL');
    await ended();
    cleanup();
    throw error;
  };
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`web server did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /ATELIER_URL=(\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    server.stdout?.on('data', onData);
    server.stderr?.on('data', onData);
    server.once('exit', (code) => reject(new Error(`web server exited (${code}):\n${output}`)));
  }).catch(abandon);
  const errors: string[] = [];
  const open = async () => {
    browser = await chromium.launch({
      executablePath: chromiumPath(),
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(url);
    return { browser, context, page };
  };
  const { browser: opened, context, page } = await open().catch(abandon);
  return {
    url,
    origin: new URL(url).origin,
    home,
    browser: opened,
    context,
    page,
    log: () => `${output}\npage errors:\n${errors.join('\n')}`,
    stop: async () => {
      await opened.close().catch(() => undefined); // a browser that already died has nothing left to close
      server.kill('SIGTERM');
      await ended();
      cleanup();
    },
    crash: async () => {
      server.kill('SIGKILL');
      await ended();
      await opened.close().catch(() => undefined); // a browser that already died has nothing left to close
      cleanup();
    },
  };
}

export const screenshotsDir = path.resolve('docs/screenshots');

export interface StudioFixture {
  /** The server, browser and page (read inside tests and hooks, once the set-up ran). */
  readonly studio: Studio;
  /** The studio screen, ready: status live, canvas fitted, project session open. */
  readonly ui: StudioPage;
}

export interface UseStudioOptions extends StartOptions {
  /** Extra environment for the server. */
  env?: Record<string, string>;
  /** Runs once the screen is ready, before the file's first test (add a model, set sizes). */
  prepare?: (ui: StudioPage, studio: Studio) => Promise<void>;
  /** Milliseconds for the whole set-up (default: the e2e project's hookTimeout). */
  timeout?: number;
}

/**
 * Stands for the object `get()` returns once it exists: a file names `studio` and `ui` once
 * at its top, as before, while they are made in beforeAll. Methods run on the real object.
 */
function later<T extends object>(what: string, get: () => T | undefined): T {
  const real = (): T => {
    const value = get();
    if (!value) throw new Error(`useStudio(): ${what} is read before the file's set-up ran (read it inside a test or hook)`);
    return value;
  };
  return new Proxy({} as T, {
    get: (_, key) => {
      const target = real();
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
    has: (_, key) => Reflect.has(real(), key),
  });
}

/**
 * The e2e set-up as one fixture: one web server, one Chromium and one page per test file,
 * started before its first test and stopped after its last, the same way for every file.
 * Call it once at the top level of a file.
 *
 * @example
 * const { studio, ui } = useStudio({ prepare: (ui) => ui.addModel(MODEL) });
 * it('draws', async () => { await ui.press('b'); });
 */
export function useStudio(options: UseStudioOptions = {}): StudioFixture {
  let started: { studio: Studio; ui: StudioPage } | undefined;
  beforeAll(async () => {
    const studio = await startStudio(options.env, options);
    started = { studio, ui: new StudioPage(studio.page) };
    try {
      await started.ui.ready();
      await options.prepare?.(started.ui, studio);
    } catch (error) {
      throw new Error(`${(error as Error).message}\nserver log:\n${studio.log()}`, { cause: error });
    }
  }, options.timeout);
  afterAll(async () => {
    await started?.studio.stop();
  });
  return { studio: later('studio', () => started?.studio), ui: later('ui', () => started?.ui) };
}
