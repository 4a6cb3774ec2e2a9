import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DesktopCommandEvent, StudioEvent } from '../../app/contract/index.js';
import { importModelDialogOptions, openProjectDialogOptions, projectSavePath, saveProjectDialogOptions } from '../../main/electron/dialogs.js';
import { type MenuActions, buildMenuTemplate } from '../../main/electron/menu-template.js';
import { MAX_RECENT_MENU_ITEMS, projectPathFromArgv, recentProjectsForMenu } from '../../main/electron/project-files.js';
import { MIN_WINDOW_SIZE } from '../../main/electron/window-options.js';
import { DEFAULT_WINDOW_SIZE, boundsToRestore, loadWindowState, saveWindowState, windowStateFile } from '../../main/electron/window-state.js';
import { tempHome } from '../helpers/home.js';

type MenuItemConstructorOptions = ReturnType<typeof buildMenuTemplate>[number];

const { home, cleanup } = tempHome('atelier-desktop-');
afterAll(cleanup);

const laptop = { x: 0, y: 0, width: 1920, height: 1050 };
const rightMonitor = { x: 1920, y: 0, width: 2560, height: 1400 };

describe('window state', () => {
  const saved = { x: 2000, y: 100, width: 1600, height: 1000, maximized: true, fullScreen: false };

  it('round-trips through ATELIER_HOME', () => {
    const file = windowStateFile(home);
    expect(loadWindowState(file)).toBeUndefined();
    saveWindowState(file, saved);
    expect(loadWindowState(file)).toEqual(saved);
    expect(fs.readdirSync(home).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('ignores a corrupt or foreign file', () => {
    const file = path.join(home, 'bad-state.json');
    fs.writeFileSync(file, '{"x": "left"');
    expect(loadWindowState(file)).toBeUndefined();
    fs.writeFileSync(file, JSON.stringify({ ...saved, width: -5 }));
    expect(loadWindowState(file)).toBeUndefined();
  });

  it('refuses to save nonsense', () => {
    expect(() => saveWindowState(path.join(home, 'x.json'), { ...saved, width: 1.5 })).toThrow();
  });

  it('reopens where it was while that screen is there', () => {
    expect(boundsToRestore(saved, [laptop, rightMonitor])).toEqual({ x: 2000, y: 100, width: 1600, height: 1000 });
  });

  it('opens at the default size, centred, when the monitor it was on is gone', () => {
    expect(boundsToRestore(saved, [laptop])).toEqual({ ...DEFAULT_WINDOW_SIZE });
  });

  it('does not trust a window whose title bar is off every screen', () => {
    expect(boundsToRestore({ ...saved, x: 100, y: -500 }, [laptop])).toEqual({ ...DEFAULT_WINDOW_SIZE });
    expect(boundsToRestore({ ...saved, x: 1900, y: 10 }, [laptop])).toEqual({ ...DEFAULT_WINDOW_SIZE }); // 20 px visible
  });

  it('fits the default to a small screen, never below the minimum, and grows a too-small saved window', () => {
    expect(boundsToRestore(undefined, [{ x: 0, y: 0, width: 1280, height: 700 }])).toEqual({ width: 1280, height: 700 });
    expect(boundsToRestore(undefined, [{ x: 0, y: 0, width: 800, height: 600 }])).toEqual(MIN_WINDOW_SIZE);
    expect(boundsToRestore({ ...saved, x: 10, y: 10, width: 300, height: 200 }, [laptop])).toEqual({ x: 10, y: 10, ...MIN_WINDOW_SIZE });
  });
});

describe('recent projects and opening files from the OS', () => {
  it('shows the projects area’s recent list, only files still there, at most ten', () => {
    const recent = [
      { path: '/p/a.atelier', exists: true },
      { path: '/p/gone.atelier', exists: false },
      { path: '/p/sketch.psd', exists: true },
      { path: 'relative.atelier', exists: true },
      ...Array.from({ length: 20 }, (_, i) => ({ path: `/p/${i}.atelier`, exists: true })),
    ];
    const menu = recentProjectsForMenu(recent);
    expect(menu.slice(0, 2)).toEqual(['/p/a.atelier', '/p/0.atelier']);
    expect(menu).toHaveLength(MAX_RECENT_MENU_ITEMS);
  });

  it('finds the project a launch was asked to open', () => {
    expect(projectPathFromArgv(['/opt/Atelier/atelier', '/home/me/Art/city.atelier'], '/')).toBe('/home/me/Art/city.atelier');
    expect(projectPathFromArgv(['electron', '.', '--enable-logging', 'city.ATELIER'], '/home/me')).toBe(path.resolve('/home/me', 'city.ATELIER'));
    expect(projectPathFromArgv(['/opt/Atelier/atelier', '--foo=x.atelier'], '/')).toBeUndefined();
    expect(projectPathFromArgv(['/opt/Atelier/atelier.atelier'], '/')).toBeUndefined(); // argv[0] is the executable
    expect(projectPathFromArgv(['/opt/Atelier/atelier', 'notes.txt'], '/')).toBeUndefined();
  });
});

describe('dialogs', () => {
  it('filter on .atelier and start where the artist last was', () => {
    const open = openProjectDialogOptions('/home/me/Art');
    expect(open).toMatchObject({ defaultPath: '/home/me/Art', properties: ['openFile'], filters: [{ extensions: ['atelier'] }] });
    expect(openProjectDialogOptions(undefined)).not.toHaveProperty('defaultPath');
    expect(saveProjectDialogOptions('/home/me/Untitled.atelier').properties).toContain('showOverwriteConfirmation');
  });

  it('import a .safetensors checkpoint, or a folder in a dialog of its own', () => {
    expect(importModelDialogOptions('file', '/home/me/Downloads')).toMatchObject({ defaultPath: '/home/me/Downloads', properties: ['openFile'], filters: [{ extensions: ['safetensors'] }] });
    expect(importModelDialogOptions('folder', undefined)).toEqual({ title: 'Import Model Folder (diffusers layout)', properties: ['openDirectory'] });
  });

  it('name a saved project .atelier, refusing another extension rather than renaming it', () => {
    expect(projectSavePath('/home/me/city')).toEqual({ ok: true, path: '/home/me/city.atelier' });
    expect(projectSavePath('/home/me/city.Atelier')).toEqual({ ok: true, path: '/home/me/city.Atelier' });
    expect(projectSavePath('/home/me/city.png')).toMatchObject({ ok: false });
  });
});

describe('the application menu', () => {
  const calls: string[] = [];
  const actions: MenuActions = {
    newProject: () => calls.push('new'),
    openProject: () => calls.push('open'),
    openRecentProject: (file) => calls.push(`recent:${file}`),
    saveProject: () => calls.push('save'),
    saveProjectAs: () => calls.push('saveAs'),
    importModel: (kind) => calls.push(`import:${kind}`),
    openDataFolder: () => calls.push('data'),
  };
  const labels = (items: MenuItemConstructorOptions[]) => items.map((i) => i.label ?? i.role);
  const submenu = (item: MenuItemConstructorOptions | undefined) => item?.submenu as MenuItemConstructorOptions[];
  const find = (items: MenuItemConstructorOptions[], label: string) => items.find((i) => i.label === label);

  it('has File, Edit, View, Help (and the app and Window menus on macOS)', () => {
    expect(labels(buildMenuTemplate({ platform: 'linux', appName: 'Atelier', recentProjects: [], development: false, actions }))).toEqual(['&File', '&Edit', '&View', '&Help']);
    expect(labels(buildMenuTemplate({ platform: 'darwin', appName: 'Atelier', recentProjects: [], development: false, actions }))).toEqual(['Atelier', '&File', '&Edit', '&View', 'windowMenu', '&Help']);
  });

  it('lists recent projects and runs the actions', () => {
    const menu = buildMenuTemplate({ platform: 'win32', appName: 'Atelier', recentProjects: ['/p/city.atelier'], development: false, actions });
    const file = submenu(menu[0]);
    const recent = submenu(find(file, 'Open Recent'));
    expect(recent[0]).toMatchObject({ label: 'city.atelier', toolTip: '/p/city.atelier' });
    const click = (item: MenuItemConstructorOptions | undefined) => (item?.click as () => void)();
    click(recent[0]);
    click(find(file, 'New Project'));
    click(find(file, 'Open Project…'));
    click(find(file, 'Save'));
    click(find(file, 'Save As…'));
    click(find(file, 'Import Model…'));
    click(find(file, 'Import Model Folder…'));
    expect(calls).toEqual(['recent:/p/city.atelier', 'new', 'open', 'save', 'saveAs', 'import:file', 'import:folder']);
    expect(find(file, 'Save')?.accelerator).toBe('CmdOrCtrl+S');
  });

  it('leaves the keys the UI handles itself to the page (shown, not registered)', () => {
    const menu = buildMenuTemplate({ platform: 'linux', appName: 'Atelier', recentProjects: [], development: false, actions });
    const file = submenu(menu[0]);
    const edit = submenu(menu[1]);
    for (const label of ['New Project', 'Open Project…', 'Save', 'Save As…']) {
      expect(find(file, label)).toMatchObject({ registerAccelerator: false, accelerator: expect.any(String) });
    }
    for (const role of ['undo', 'redo']) expect(edit.find((i) => i.role === role)).toMatchObject({ registerAccelerator: false });
  });

  it('shows an empty Open Recent as such, and developer tools only in development', () => {
    const menu = buildMenuTemplate({ platform: 'linux', appName: 'Atelier', recentProjects: [], development: false, actions });
    expect(submenu(find(submenu(menu[0]), 'Open Recent'))).toEqual([{ label: 'No Recent Projects', enabled: false }]);
    const roles = (m: MenuItemConstructorOptions[]) => submenu(m[2]).map((i) => i.role);
    expect(roles(menu)).not.toContain('toggleDevTools');
    expect(roles(buildMenuTemplate({ platform: 'linux', appName: 'Atelier', recentProjects: [], development: true, actions }))).toContain('toggleDevTools');
  });

  it('sends menu commands to the UI as StudioEvents the renderer’s client accepts', () => {
    const event = { type: 'desktop.command', command: 'project.open', path: '/p/city.atelier' };
    expect(DesktopCommandEvent.parse(event)).toEqual(event);
    expect(StudioEvent.safeParse(event).success).toBe(true);
    expect(StudioEvent.safeParse({ ...event, command: 'shell.exec' }).success).toBe(false);
  });
});
