import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, ApiResponse, type StudioEvent } from '../../app/contract/index.js';
import { tempHome } from '../helpers/home.js';
import { until } from '../helpers/until.js';

// The bundled desktop main process (dist-electron/main.cjs as `npm run dist` packs it),
// run under plain Node with tests/helpers/fake-electron.cjs standing in for Electron's
// binary, which cannot be installed here. The test plays Electron: it sends IPC from our
// window and from strangers, requests atelier:// URLs, tries to navigate and open windows,
// and generates through the engine worker bundle, which really runs (forked where Electron
// would use a utilityProcess) on the tiny fixture model.

const repo = process.cwd();
// Inside the repository, so the bundles resolve node_modules as they would in the app.
const cacheDir = path.join(repo, 'node_modules', '.cache');
fs.mkdirSync(cacheDir, { recursive: true });
const appRoot = fs.mkdtempSync(path.join(cacheDir, 'atelier-desktop-'));
const { home, cleanup } = tempHome('atelier-desktop-home-');
let child: ChildProcess;
let nextId = 1;
const pending = new Map<number, (message: { value?: unknown; error?: string }) => void>();
const notices: Array<{ type: string; [key: string]: unknown }> = [];

function send<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, (message) => (message.error ? reject(new Error(message.error)) : resolve(message.value as T)));
    child.send({ id, op, ...args });
  });
}

/** until(), naming the main process's notices so far when the wait times out. */
async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>): Promise<T> {
  try {
    // Under the tests' own 120 s, so that a wait that never ends says what it waited for.
    return (await until(check, { what, timeout: 100_000 })) as T;
  } catch (error) {
    throw new Error(`${(error as Error).message}; notices: ${JSON.stringify(notices)}`, { cause: error });
  }
}

const call = async (method: string, params: unknown = {}, sender: Record<string, unknown> = { sender: 'window' }) =>
  ApiResponse.parse(await send('invoke', { channel: 'atelier:call', payload: { v: API_VERSION, method, params }, ...sender }));

beforeAll(async () => {
  execFileSync(process.execPath, ['scripts/build-electron.mjs', '--outdir', path.join(appRoot, 'dist-electron')], { stdio: 'pipe' });
  fs.mkdirSync(path.join(appRoot, 'dist', 'renderer'), { recursive: true });
  fs.writeFileSync(path.join(appRoot, 'dist', 'renderer', 'index.html'), '<!doctype html><title>Atelier</title>');
  fs.mkdirSync(path.join(appRoot, 'resources', 'models'), { recursive: true });
  fs.symlinkSync(path.join(repo, 'tests', 'fixtures', 'models', 'sd1-tiny'), path.join(appRoot, 'resources', 'models', 'starter'));

  child = fork(path.join(appRoot, 'dist-electron', 'main.cjs'), [], {
    execArgv: ['--require', path.join(repo, 'tests', 'helpers', 'fake-electron.cjs')],
    env: { ...process.env, FAKE_ELECTRON_APP_PATH: appRoot, ATELIER_HOME: home },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.on('message', (message: { id?: number; type?: string; value?: unknown; error?: string }) => {
    if (message.id !== undefined) {
      pending.get(message.id)?.(message);
      pending.delete(message.id);
    } else if (message.type) notices.push(message as { type: string });
  });
  await send('ready');
  await waitFor('the window to load', () => notices.find((n) => n.type === 'loaded'));
});

afterAll(() => {
  child?.kill();
  fs.rmSync(appRoot, { recursive: true, force: true });
  cleanup();
});

describe('the desktop main process (bundled, fake Electron)', () => {
  it('starts sandboxed, registers the privileged scheme, one IPC channel, the menu and one hardened window', async () => {
    const record = await send<{
      sandbox: boolean;
      schemes: Array<{ scheme: string; privileges: Record<string, boolean> }>;
      schemesHandled: string[];
      channels: string[];
      menus: Array<{ top: string[]; recent: string[] }>;
      windows: Array<{ url: string; options: { webPreferences: Record<string, unknown> } }>;
      errors: string[];
    }>('record');
    expect(record.errors).toEqual([]);
    expect(record.sandbox).toBe(true);
    expect(record.schemes).toEqual([expect.objectContaining({ scheme: 'atelier', privileges: expect.objectContaining({ standard: true, secure: true }) })]);
    expect(record.schemesHandled).toEqual(['atelier']);
    expect(record.channels).toEqual(['atelier:call']);
    expect(record.menus.at(-1)).toEqual({ top: ['&File', '&Edit', '&View', '&Help'], recent: ['No Recent Projects'] });
    expect(record.windows).toHaveLength(1);
    expect(record.windows[0]!.url).toBe('atelier://app/index.html');
    expect(record.windows[0]!.options.webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      preload: path.join(appRoot, 'dist-electron', 'preload.cjs'),
    });
    expect(fs.existsSync(path.join(appRoot, 'dist-electron', 'preload.cjs'))).toBe(true);
  });

  it('answers our window over IPC and refuses strangers', async () => {
    const status = await call('status');
    expect(status.ok && (status.result as { transport: string; home: string })).toMatchObject({ transport: 'electron', home });
    const stranger = await call('status', {}, { sender: 'other', url: 'atelier://app/index.html' });
    const iframe = await call('status', {}, { sender: 'window', subframe: true });
    expect(stranger.ok || stranger.error.code).toBe('unauthorized');
    expect(iframe.ok || iframe.error.code).toBe('unauthorized');
    expect(await send('invoke', { channel: 'atelier:eval', payload: {}, sender: 'window' })).toEqual({ noHandler: 'atelier:eval' });
  });

  it('serves the UI with its CSP over atelier:// and nothing outside the roots', async () => {
    const page = await send<{ status: number; headers: Record<string, string>; body: string }>('fetch', { url: 'atelier://app/index.html' });
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/);
    const escape = await send<{ status: number }>('fetch', { url: 'atelier://app/..%2f..%2fpackage.json' });
    expect(escape.status).toBe(403);
    const database = await send<{ status: number }>('fetch', { url: 'atelier://library/library.sqlite' });
    expect(database.status).toBe(404);
  });

  it('denies navigation away, new windows and permissions; opens clicked https links outside', async () => {
    expect(await send('navigate', { url: 'https://evil.example/' })).toBe(true);
    expect(await send('navigate', { url: 'atelier://app/index.html' })).toBe(false);
    const popup = await send<{ result: { action: string }; externals: string[] }>('open-window', { details: { url: 'file:///etc/passwd', disposition: 'foreground-tab' } });
    expect(popup).toEqual({ result: { action: 'deny' }, externals: [] });
    const link = await send<{ result: { action: string }; externals: string[] }>('open-window', { details: { url: 'https://onnxruntime.ai/', disposition: 'foreground-tab' } });
    expect(link).toEqual({ result: { action: 'deny' }, externals: ['https://onnxruntime.ai/'] });
    expect(await send('permission', { permission: 'media', url: 'atelier://app/index.html' })).toEqual({ granted: false, check: false, device: false });
  });

  it('generates through the engine worker bundle hosted as a utility process, and serves the result', async () => {
    const started = await call('generate', { request: { model: 'starter', prompt: 'a red fox', seed: 3, steps: 2, sampler: 'euler' } });
    expect(started.ok, JSON.stringify(started)).toBe(true);
    const jobId = (started as { result: { jobId: string } }).result.jobId;
    const done = await waitFor('the job to finish', async () => {
      const sent = await send<Array<[string, StudioEvent]>>('events');
      return sent.map(([, e]) => e).find((e) => 'jobId' in e && e.jobId === jobId && (e.type === 'job.completed' || e.type === 'job.failed'));
    });
    expect(done, JSON.stringify(done)).toMatchObject({ type: 'job.completed' });
    const record = await send<{ forks: Array<{ modulePath: string; serviceName: string }> }>('record');
    expect(record.forks).toEqual([{ modulePath: path.join(appRoot, 'dist-electron', 'app', 'engine', 'worker', 'main.cjs'), serviceName: 'Atelier engine', stdio: ['ignore', 'inherit', 'pipe'] }]);

    const candidate = (done as Extract<StudioEvent, { type: 'job.completed' }>).candidates[0]!;
    expect(candidate.url).toBe(`atelier://library/${candidate.sha256}.png`);
    const image = await send<{ status: number; headers: Record<string, string> }>('fetch', { url: candidate.url });
    expect(image.status).toBe(200);
    expect(image.headers['content-type']).toBe('image/png');
  });

  it('hands a project from a second launch to the UI, and lists what the UI saved under Open Recent', async () => {
    const project = path.join(home, 'city.atelier');
    fs.writeFileSync(project, 'main only hands the path on; the UI opens it');
    await send('second-instance', { argv: ['/opt/Atelier/atelier', 'city.atelier'], cwd: home });
    const events = await send<Array<[string, StudioEvent]>>('events');
    expect(events.map(([, e]) => e)).toContainEqual({ type: 'desktop.command', command: 'project.open', path: project });

    // What the UI does next for Save As: the projects area saves and remembers the file.
    const created = await call('projects.new', { name: 'Harbour', width: 64, height: 64 });
    expect(created.ok, JSON.stringify(created)).toBe(true);
    const sessionId = (created as { result: { sessionId: string } }).result.sessionId;
    const target = path.join(home, 'harbour.atelier');
    const saved = await call('projects.saveAs', { sessionId, path: target });
    expect(saved.ok, JSON.stringify(saved)).toBe(true);
    await waitFor('the menu to list the saved project', async () => {
      const record = await send<{ menus: Array<{ recent: string[] }> }>('record');
      return record.menus.at(-1)!.recent.includes(target) ? true : undefined;
    });
  });

  it('sends the checkpoint File → Import Model… chose in the native dialog to the UI', async () => {
    const checkpoint = path.resolve('tests/fixtures/checkpoint/sd1-tiny.safetensors');
    await send('next-open-dialog', { paths: [checkpoint] });
    expect(await send('click-menu', { path: ['&File', 'Import Model…'] })).toBe(true);
    await waitFor('the import command', async () => ((await send<Array<[string, StudioEvent]>>('events')).some(([, e]) => e.type === 'desktop.command' && e.command === 'models.import') ? true : undefined));
    expect((await send<Array<[string, StudioEvent]>>('events')).map(([, e]) => e)).toContainEqual({ type: 'desktop.command', command: 'models.import', path: checkpoint });
    const dialogs = (await send<{ openDialogs: Array<{ properties: string[]; filters?: Array<{ extensions: string[] }> }> }>('record')).openDialogs;
    expect(dialogs.at(-1)).toMatchObject({ properties: ['openFile'], filters: [{ extensions: ['safetensors'] }] });
    // A cancelled dialog sends nothing.
    const before = (await send<unknown[]>('events')).length;
    await send('click-menu', { path: ['&File', 'Import Model Folder…'] });
    await waitFor('the folder dialog', async () => ((await send<{ openDialogs: unknown[] }>('record')).openDialogs.length === dialogs.length + 1 ? true : undefined));
    expect((await send<{ openDialogs: Array<{ properties: string[] }> }>('record')).openDialogs.at(-1)).toMatchObject({ properties: ['openDirectory'] });
    expect((await send<unknown[]>('events')).length).toBe(before);
  });

  it('closes the studio before quitting, and remembers the window', async () => {
    await send('quit');
    await waitFor('the app to quit', () => notices.find((n) => n.type === 'quit'));
    expect(JSON.parse(fs.readFileSync(path.join(home, 'window-state.json'), 'utf8'))).toEqual({ x: 10, y: 20, width: 1300, height: 800, maximized: false, fullScreen: false });
  });
});
