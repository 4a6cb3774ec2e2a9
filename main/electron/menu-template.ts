import path from 'node:path';
import type { MenuItemConstructorOptions } from 'electron';

// The application menu as data (File, Edit, View, Help; macOS adds the app menu and Window).
// Pure: main.ts hands it to Menu.buildFromTemplate and supplies the actions.
//
// Shortcuts the UI handles itself, the same in web mode (undo/redo of the document, save,
// save as, open, new: renderer/src/App.tsx, projects/ProjectBar.tsx), are shown in the menu
// but not registered (`registerAccelerator: false`): on Windows and Linux a registered
// accelerator is taken in the browser process and the page never sees the key, so Ctrl+Z
// would stop undoing canvas strokes. Clicking the items still works: Undo/Redo act on the
// focused text field (Electron's roles), the File items go through native dialogs.

export interface MenuActions {
  newProject(): void;
  openProject(): void;
  openRecentProject(file: string): void;
  saveProject(): void;
  saveProjectAs(): void;
  /** Opens the native dialog for a checkpoint file or a diffusers folder, then the model manager imports it. */
  importModel(kind: 'file' | 'folder'): void;
  openDataFolder(): void;
}

export interface MenuOptions {
  platform: NodeJS.Platform;
  appName: string;
  recentProjects: readonly string[];
  /** Reload and developer tools only while developing, never in an installed app. */
  development: boolean;
  actions: MenuActions;
}

export function buildMenuTemplate(options: MenuOptions): MenuItemConstructorOptions[] {
  const { actions, platform } = options;
  const mac = platform === 'darwin';

  const recent: MenuItemConstructorOptions[] = options.recentProjects.length
    ? options.recentProjects.map((file): MenuItemConstructorOptions => ({
        label: path.basename(file),
        toolTip: file,
        click: () => actions.openRecentProject(file),
      }))
    : [{ label: 'No Recent Projects', enabled: false }];

  const file: MenuItemConstructorOptions = {
    label: '&File',
    submenu: [
      { label: 'New Project', accelerator: 'CmdOrCtrl+Alt+N', registerAccelerator: false, click: () => actions.newProject() },
      { label: 'Open Project…', accelerator: 'CmdOrCtrl+O', registerAccelerator: false, click: () => actions.openProject() },
      { label: 'Open Recent', submenu: recent },
      { type: 'separator' },
      { label: 'Save', accelerator: 'CmdOrCtrl+S', registerAccelerator: false, click: () => actions.saveProject() },
      { label: 'Save As…', accelerator: 'CmdOrCtrl+Shift+S', registerAccelerator: false, click: () => actions.saveProjectAs() },
      { type: 'separator' },
      { label: 'Import Model…', click: () => actions.importModel('file') },
      { label: 'Import Model Folder…', click: () => actions.importModel('folder') },
      { type: 'separator' },
      { label: 'Open Data Folder', click: () => actions.openDataFolder() },
      { type: 'separator' },
      mac ? { role: 'close' } : { role: 'quit' },
    ],
  };

  const edit: MenuItemConstructorOptions = {
    label: '&Edit',
    submenu: [
      { role: 'undo', registerAccelerator: false },
      { role: 'redo', registerAccelerator: false },
      { type: 'separator' },
      { role: 'cut' },
      { role: 'copy' },
      { role: 'paste' },
      { role: 'delete' },
      { type: 'separator' },
      { role: 'selectAll' },
    ],
  };

  const view: MenuItemConstructorOptions = {
    label: '&View',
    submenu: [
      ...(options.development ? [{ role: 'reload' }, { role: 'toggleDevTools' }, { type: 'separator' }] satisfies MenuItemConstructorOptions[] : []),
      { role: 'resetZoom' },
      { role: 'zoomIn' },
      { role: 'zoomOut' },
      { type: 'separator' },
      { role: 'togglefullscreen' },
    ],
  };

  const help: MenuItemConstructorOptions = {
    role: 'help',
    label: '&Help',
    submenu: [
      ...(mac ? [] : [{ role: 'about', label: `About ${options.appName}` } satisfies MenuItemConstructorOptions]),
      { label: 'Open Data Folder', click: () => actions.openDataFolder() },
    ],
  };

  const appMenu: MenuItemConstructorOptions = {
    label: options.appName,
    submenu: [
      { role: 'about' },
      { type: 'separator' },
      { role: 'services' },
      { type: 'separator' },
      { role: 'hide' },
      { role: 'hideOthers' },
      { role: 'unhide' },
      { type: 'separator' },
      { role: 'quit' },
    ],
  };

  return mac ? [appMenu, file, edit, view, { role: 'windowMenu' }, help] : [file, edit, view, help];
}
