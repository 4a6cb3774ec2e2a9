// Atelier's Electron main process: lifecycle, the one window, menus, dialogs, the
// atelier:// protocol and the StudioApi over IPC. Thin glue over pure modules (see the
// other files here); every decision that can be tested without Electron lives there.
import fs from 'node:fs';
import path from 'node:path';
import { BrowserWindow, Menu, app, dialog, ipcMain, protocol, screen, session, shell, utilityProcess, type WebContents } from 'electron';
import type { DesktopCommandEvent } from '../../app/contract/index.js';
import { APP_VERSION, type FromWorker, type StudioService, type ToWorker, createStudio, resolveHome } from '../../app/service/index.js';
import { APP_ENTRY_URL } from './channels.js';
import { bundledWorkerEntry, utilityProcessTransport } from './engine-transport.js';
import { importModelDialogOptions, openProjectDialogOptions, projectSavePath, saveProjectDialogOptions } from './dialogs.js';
import { registerStudioIpc } from './ipc.js';
import { buildMenuTemplate } from './menu-template.js';
import { externalLinkToOpen, mayGrantPermission, mayNavigate } from './policy.js';
import { ATELIER_SCHEME, registerAtelierProtocol } from './protocol.js';
import { isProjectPath, projectPathFromArgv, recentProjectsForMenu } from './project-files.js';
import { studioWindowOptions, securityChecklistViolations } from './window-options.js';
import { boundsToRestore, loadWindowState, saveWindowState, windowStateFile } from './window-state.js';

// Before 'ready': the scheme's privileges, and the sandbox for every renderer, not only ours.
protocol.registerSchemesAsPrivileged([ATELIER_SCHEME]);
app.enableSandbox();

const development = !app.isPackaged;
/** Where the built UI, the preload and the bundled resources are. */
const appRoot = app.getAppPath();
const uiRoot = path.join(appRoot, 'dist', 'renderer');
const preloadPath = path.join(appRoot, 'dist-electron', 'preload.cjs');
// The starter model ships outside the asar (onnxruntime reads model files with native I/O,
// which cannot see inside an asar): resources/models/starter in development,
// <resources>/models/starter once installed (electron-builder.yml extraResources).
const starterDir = path.join(app.isPackaged ? process.resourcesPath : path.join(appRoot, 'resources'), 'models', 'starter');

let home = '';
let service: StudioService | undefined;
let mainWindow: BrowserWindow | undefined;
const trusted = new Map<number, WebContents>();
/** Commands for the UI that arrived before it was listening (a double-clicked project at launch). */
const pendingCommands: DesktopCommandEvent[] = [];
let uiListening = false;
let lastExternalOpen: number | undefined;
let quitting = false;
/** StudioApi members after which the projects area's recent list may have changed. */
const PROJECT_LIST_CHANGERS: ReadonlySet<string> = new Set(['projects.open', 'projects.saveAs', 'projects.recover']);

if (!app.requestSingleInstanceLock()) {
  // Another Atelier owns the library; it receives our argv through 'second-instance'.
  app.quit();
} else {
  app.on('second-instance', (_event, argv, workingDirectory) => {
    focusWindow();
    const file = projectPathFromArgv(argv, workingDirectory);
    if (file) openProjectFile(file);
  });
  // macOS: a double-clicked .atelier file, possibly before 'ready'.
  app.on('open-file', (event, file) => {
    event.preventDefault();
    openProjectFile(file);
  });
  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents));
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('activate', () => {
    if (app.isReady() && BrowserWindow.getAllWindows().length === 0) createWindow();
  });
  app.on('before-quit', (event) => {
    if (quitting || !service) return;
    // Let the studio finish (cancel jobs, close SQLite, stop the engine) before exit.
    event.preventDefault();
    quitting = true;
    const closing = service;
    service = undefined;
    closing.close().catch((error: unknown) => console.error('Closing the studio failed:', error)).finally(() => app.quit());
  });
  app.whenReady().then(start).catch((error: unknown) => {
    dialog.showErrorBox('Atelier could not start', error instanceof Error ? error.message : String(error));
    app.exit(1);
  });
}

async function start(): Promise<void> {
  if (!fs.existsSync(path.join(uiRoot, 'index.html'))) {
    throw new Error(`The studio UI is not built (${uiRoot} has no index.html). Run: npm run build:ui`);
  }
  home = resolveHome();
  app.setAboutPanelOptions({ applicationName: 'Atelier', applicationVersion: APP_VERSION, copyright: 'MIT licence' });

  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_contents, permission, callback, details) => callback(mayGrantPermission(permission, details.requestingUrl)));
  ses.setPermissionCheckHandler((_contents, permission, requestingOrigin) => mayGrantPermission(permission, requestingOrigin));
  ses.setDevicePermissionHandler(() => false);

  registerAtelierProtocol(protocol, {
    roots: () => ({ app: uiRoot, library: path.join(home, 'library'), project: path.join(home, 'open-projects') }),
    onRefused: (url, reason) => console.warn(`atelier:// refused ${url}: ${reason}`),
  });

  const studio = await createStudio({
    transport: 'electron',
    home,
    starterDir,
    // The engine worker in a utilityProcess: child_process.fork would need the RunAsNode fuse.
    engineTransport: () => utilityProcessTransport<ToWorker, FromWorker>(utilityProcess.fork, { entry: bundledWorkerEntry(appRoot) }),
  });
  service = studio;
  registerStudioIpc(
    ipcMain,
    {
      handle: async (request) => {
        const response = await studio.handle(request);
        // The UI has called us, so its client (and event subscription) is running.
        if (!uiListening) setImmediate(flushPendingCommands);
        uiListening = true;
        if (response.ok && PROJECT_LIST_CHANGERS.has((request as { method?: unknown }).method as string)) void rebuildMenu();
        return response;
      },
      subscribe: (listener) => studio.subscribe(listener),
    },
    { ids: () => new Set(trusted.keys()), contents: () => trusted.values() },
  );
  studio.subscribe((event) => {
    if (event.type === 'project.saved') void rebuildMenu();
  });

  await rebuildMenu();
  const launchFile = projectPathFromArgv(process.argv, process.cwd());
  if (launchFile) openProjectFile(launchFile);
  createWindow();
}

/** Navigation, new windows, webviews: denied for every webContents, ours or not. */
function hardenWebContents(contents: WebContents): void {
  contents.on('will-frame-navigate', (event) => {
    if (!mayNavigate(event.url)) event.preventDefault();
  });
  contents.on('will-redirect', (event) => {
    if (!mayNavigate(event.url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler((details) => {
    const now = Date.now();
    const url = externalLinkToOpen(details, now, lastExternalOpen);
    if (url) {
      lastExternalOpen = now;
      shell.openExternal(url).catch((error: unknown) => console.warn('Could not open the link:', error));
    }
    return { action: 'deny' };
  });
}

function createWindow(): void {
  const stateFile = windowStateFile(home);
  const saved = loadWindowState(stateFile);
  const bounds = boundsToRestore(saved, screen.getAllDisplays().map((display) => display.workArea));
  const options = studioWindowOptions({ preload: preloadPath, bounds });
  const violations = securityChecklistViolations(options);
  if (violations.length) throw new Error(`Refusing to open a window that breaks the security checklist: ${violations.join('; ')}`);

  const window = new BrowserWindow(options);
  mainWindow = window;
  const contentsId = window.webContents.id;
  trusted.set(contentsId, window.webContents);
  if (saved?.maximized) window.maximize();
  if (saved?.fullScreen) window.setFullScreen(true);
  window.once('ready-to-show', () => window.show());
  window.on('close', () => {
    const normal = window.getNormalBounds();
    saveWindowState(stateFile, {
      x: Math.round(normal.x),
      y: Math.round(normal.y),
      width: Math.round(normal.width),
      height: Math.round(normal.height),
      maximized: window.isMaximized(),
      fullScreen: window.isFullScreen(),
    });
  });
  window.on('closed', () => {
    trusted.delete(contentsId);
    if (mainWindow === window) mainWindow = undefined;
    uiListening = false;
  });
  window.webContents.on('did-start-loading', () => {
    uiListening = false;
  });
  window.loadURL(APP_ENTRY_URL).catch((error: unknown) => console.error('Loading the studio UI failed:', error));
}

function focusWindow(): void {
  if (!mainWindow) return;
  if (mainWindow.isMinimized()) mainWindow.restore();
  mainWindow.focus();
}

function sendCommand(command: DesktopCommandEvent): void {
  if (service && uiListening && mainWindow) service.emit(command);
  else pendingCommands.push(command);
}

function flushPendingCommands(): void {
  if (!service) return;
  for (const command of pendingCommands.splice(0)) service.emit(command);
}

function openProjectFile(file: string): void {
  if (!isProjectPath(file) || !fs.existsSync(file)) {
    const message = `"${file}" is not an Atelier project file (.atelier) that exists.`;
    if (app.isReady()) void dialog.showMessageBox({ type: 'warning', message: 'Cannot open project', detail: message });
    else console.warn(message);
    return;
  }
  // The OS's own recent list (Dock, jump list); File ▸ Open Recent is the projects area's.
  if (app.isReady()) app.addRecentDocument(file);
  sendCommand({ type: 'desktop.command', command: 'project.open', path: file });
}

async function recentProjects(): Promise<string[]> {
  if (!service) return [];
  try {
    return recentProjectsForMenu(await service.call('projects.recent', {}));
  } catch (error) {
    console.warn('Could not read the recent projects:', error);
    return [];
  }
}

async function rebuildMenu(): Promise<void> {
  const template = buildMenuTemplate({
    platform: process.platform,
    appName: 'Atelier',
    development,
    recentProjects: await recentProjects(),
    actions: {
      newProject: () => sendCommand({ type: 'desktop.command', command: 'project.new' }),
      openProject: () => void chooseProjectToOpen(),
      openRecentProject: (file) => openProjectFile(file),
      saveProject: () => sendCommand({ type: 'desktop.command', command: 'project.save' }),
      saveProjectAs: () => void chooseWhereToSave(),
      importModel: (kind) => void chooseModelToImport(kind),
      openDataFolder: () => void shell.openPath(home),
    },
  });
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}

async function chooseProjectToOpen(): Promise<void> {
  const [latest] = await recentProjects();
  const options = openProjectDialogOptions(latest ? path.dirname(latest) : app.getPath('documents'));
  const result = mainWindow ? await dialog.showOpenDialog(mainWindow, options) : await dialog.showOpenDialog(options);
  const [file] = result.filePaths;
  if (!result.canceled && file) openProjectFile(file);
}

/** The model manager takes it from here: it opens and imports the chosen file or folder (with progress, cancellable). */
async function chooseModelToImport(kind: 'file' | 'folder'): Promise<void> {
  const options = importModelDialogOptions(kind, app.getPath('downloads'));
  const result = mainWindow ? await dialog.showOpenDialog(mainWindow, options) : await dialog.showOpenDialog(options);
  const [chosen] = result.filePaths;
  if (!result.canceled && chosen) sendCommand({ type: 'desktop.command', command: 'models.import', path: chosen });
}

async function chooseWhereToSave(): Promise<void> {
  const options = saveProjectDialogOptions(path.join(app.getPath('documents'), 'Untitled.atelier'));
  const result = mainWindow ? await dialog.showSaveDialog(mainWindow, options) : await dialog.showSaveDialog(options);
  if (result.canceled || !result.filePath) return;
  const target = projectSavePath(result.filePath);
  if (!target.ok) {
    await dialog.showMessageBox({ type: 'warning', message: 'Cannot save there', detail: target.reason });
    return;
  }
  sendCommand({ type: 'desktop.command', command: 'project.saveAs', path: target.path });
}
