import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { tempHome } from '../helpers/home.js';

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

/**
 * Starts `main/web/start.ts` on a free port with a fresh ATELIER_HOME, as a newcomer's
 * `npm run web` would, and opens its printed URL in headless Chromium.
 */
export async function startStudio(env: Record<string, string> = {}): Promise<Studio> {
  const { home, cleanup } = tempHome('atelier-e2e-');
  const server: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'main/web/start.ts', '--port', '0', '--no-open'], {
    env: { ...process.env, ATELIER_HOME: home, CI: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
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
  });
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  return {
    url,
    origin: new URL(url).origin,
    home,
    browser,
    context,
    page,
    log: () => `${output}\npage errors:\n${errors.join('\n')}`,
    stop: async () => {
      await browser.close().catch(() => undefined); // a browser that already died has nothing left to close
      server.kill('SIGTERM');
      await new Promise((r) => (server.exitCode !== null ? r(undefined) : server.once('exit', r)));
      cleanup();
    },
    crash: async () => {
      server.kill('SIGKILL');
      await new Promise((r) => (server.exitCode !== null || server.signalCode !== null ? r(undefined) : server.once('exit', r)));
      await browser.close().catch(() => undefined); // a browser that already died has nothing left to close
      cleanup();
    },
  };
}

export const screenshotsDir = path.resolve('docs/screenshots');
