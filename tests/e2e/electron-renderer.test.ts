import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StudioService, createStudio } from '../../app/service/index.js';
import { contentSecurityPolicy } from '../../main/electron/csp.js';
import { createProtocolHandler } from '../../main/electron/protocol.js';
import { tempHome } from '../helpers/home.js';
import { until } from '../helpers/until.js';
import { chromiumPath, screenshotsDir } from './harness.js';

// The built UI as the desktop window runs it, minus Electron: served by the atelier://app
// protocol handler (with the desktop CSP), talking to a real StudioService through a
// window.atelier bridge shaped like the preload's — so the renderer takes its IPC client
// path, not web mode's. Proves the UI lives under the desktop CSP and follows
// desktop.command events from the menus.

const uiDir = path.resolve('dist', 'renderer');
const { home, cleanup } = tempHome('atelier-desktop-ui-');
let service: StudioService;
let server: http.Server;
let browser: Browser;
let page: Page;
let origin = '';
const problems: string[] = [];
/**
 * zod probes once whether eval works (`Function('')` in a try/catch, unless z.config({ jitless:
 * true })) and falls back to its interpreter: the CSP refusing it is the CSP working.
 */
const ZOD_EVAL_PROBE = 'Refused to load eval (script-src)';
const unexpected = () => problems.filter((p) => p !== ZOD_EVAL_PROBE);

beforeAll(async () => {
  if (!fs.existsSync(path.join(uiDir, 'index.html'))) throw new Error('Build the UI first: npm run build:ui');
  service = await createStudio({ transport: 'electron', home });
  const handle = createProtocolHandler({ roots: () => ({ app: uiDir }) });
  server = http.createServer((request, response) => {
    void (async () => {
      const answer = await handle(new Request(`atelier://app${new URL(request.url ?? '/', 'http://x').pathname}`, { method: request.method }));
      response.writeHead(answer.status, Object.fromEntries(answer.headers));
      response.end(Buffer.from(await answer.arrayBuffer()));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'] });
  page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  page.on('pageerror', (error) => problems.push(`page error: ${String(error)}`));
  page.on('console', (message) => {
    if (/Content.Security.Policy|Refused to/i.test(message.text())) problems.push(message.text());
  });
  await page.exposeBinding('__atelierInvoke', (_source, request: unknown) => service.handle(request));
  // The preload's surface: invoke and subscribe, and 'hello' when a subscription opens.
  await page.addInitScript({
    content: `
      const listeners = new Set();
      window.__atelierEmit = (event) => listeners.forEach((listener) => listener(event));
      document.addEventListener('securitypolicyviolation', (e) => console.error('Refused to load ' + e.blockedURI + ' (' + e.violatedDirective + ')'));
      window.atelier = Object.freeze({
        invoke: (request) => window.__atelierInvoke(request),
        subscribe: (listener) => {
          listeners.add(listener);
          queueMicrotask(() => listener({ type: 'hello', apiVersion: 1 }));
          return () => listeners.delete(listener);
        },
      });
    `,
  });
  // Events that arrive while the page navigates or after it closed have nobody to reach.
  service.subscribe((event) => void page.evaluate(`window.__atelierEmit?.(${JSON.stringify(event)})`).catch(() => undefined));
  const response = await page.goto(`${origin}/`);
  expect(response?.headers()['content-security-policy']).toBe(contentSecurityPolicy());
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  await service?.close();
  cleanup();
});

describe('the UI as the desktop window runs it', () => {
  it('talks to the studio over the bridge, under the desktop CSP, without violations', async () => {
    const status = page.getByTestId('server-status');
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toMatch(/ · electron$/);
    await expect.poll(() => status.getAttribute('data-live'), { timeout: 30_000 }).toBe('true');
    expect(unexpected()).toEqual([]);
  });

  it('saves the project where the native Save As dialog said (a desktop.command from the menu)', async () => {
    const target = path.join(home, 'from-the-menu.atelier');
    // What main.ts sends after dialog.showSaveDialog; the UI answers with projects.saveAs.
    await expect
      .poll(
        () => {
          service.emit({ type: 'desktop.command', command: 'project.saveAs', path: target });
          return fs.existsSync(target);
        },
        { timeout: 60_000, interval: 1000 },
      )
      .toBe(true);
    expect((await service.call('projects.info', { path: target })).layers.length).toBeGreaterThan(0);
    expect(unexpected()).toEqual([]);
  });

  it('imports the checkpoint File → Import Model… chose, in the model manager, with its job', async () => {
    const checkpoint = path.resolve('tests/fixtures/checkpoint/sd1-tiny.safetensors');
    await expect.poll(() => page.getByTestId('server-status').getAttribute('data-live'), { timeout: 30_000 }).toBe('true');
    // What main.ts sends after the native open dialog; the manager opens and imports it.
    service.emit({ type: 'desktop.command', command: 'models.import', path: checkpoint });
    await page.getByTestId('model-manager').waitFor({ timeout: 30_000 });
    const job = page.locator('[data-testid="models-job"][data-kind="import"]');
    await expect.poll(() => job.first().getAttribute('data-state'), { timeout: 120_000 }).toBe('completed');
    await expect.poll(() => page.getByTestId('models-list').textContent(), { timeout: 30_000 }).toContain('sd1-tiny');
    await page.screenshot({ path: path.join(screenshotsDir, 'desktop-import-model.png') });
    expect(unexpected()).toEqual([]);
  }, 180_000);

  it('refuses inline script and eval in the page', async () => {
    // (page.evaluate itself runs through DevTools, which CSP does not govern; a string timer
    // and an inserted inline script run as page code would.)
    const seen = problems.length;
    await page.evaluate(`setTimeout('window.__stringTimerRan = true', 0)`);
    await page.evaluate(`{
      const script = document.createElement('script');
      script.textContent = 'window.__inlineRan = true';
      document.body.append(script);
    }`);
    // Wait until the browser has reported refusing both, then for a timer queued after the
    // string one: had the string timer been allowed, it would have run before that one.
    await until(() => {
      const reported = problems.slice(seen).join('\n');
      return /inline/i.test(reported) && /eval/i.test(reported);
    }, 'the CSP to report refusing the inline script and the string timer');
    await page.evaluate('new Promise((resolve) => setTimeout(resolve, 0))');
    const ran = await page.evaluate(`({ inline: window.__inlineRan ?? false, stringTimer: window.__stringTimerRan ?? false })`);
    expect(ran).toEqual({ inline: false, stringTimer: false });
  });
});
