// A stand-in for the `electron` module, so the bundled main process (dist-electron/main.cjs)
// runs under plain Node where Electron's binary cannot be installed. Load it with
// `node --require tests/helpers/fake-electron.cjs <bundle>/main.cjs` from a parent that
// forks with an IPC channel: the parent then drives the fake like Electron would (IPC
// invokes from a chosen sender, protocol requests, navigation, permission requests, app
// events) and reads what main did. utilityProcess.fork is a real child_process.fork, so the
// engine worker bundle really runs.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- loaded with node --require, so CommonJS */
const { EventEmitter } = require('node:events');
const childProcess = require('node:child_process');
const Module = require('node:module');
const os = require('node:os');

const appPath = process.env.FAKE_ELECTRON_APP_PATH;
if (!appPath) throw new Error('FAKE_ELECTRON_APP_PATH must name the app folder');

const record = { schemes: [], sandbox: false, menus: [], windows: [], errors: [], quit: 0, exit: undefined, forks: [], externals: [], openDialogs: [] };
/** The last menu set, with its click handlers (the `click-menu` command runs one). */
let menuTemplate = [];
/** What the next showOpenDialog answers (the `next-open-dialog` command sets it): else cancelled. */
let nextOpen;
const appEvents = new EventEmitter();
let nextContentsId = 1;
let readyResolve;
const ready = new Promise((resolve) => (readyResolve = resolve));
const ipcHandlers = new Map();
const protocolHandlers = new Map();
const sessionHandlers = {};
const windows = [];

class FakeWebContents extends EventEmitter {
  constructor(url) {
    super();
    this.id = nextContentsId++;
    this.mainFrame = { url, parent: null };
    this.sent = [];
    this.windowOpenHandler = undefined;
  }
  send(channel, payload) {
    this.sent.push([channel, payload]);
  }
  isDestroyed() {
    return false;
  }
  setWindowOpenHandler(handler) {
    this.windowOpenHandler = handler;
  }
}

class BrowserWindow extends EventEmitter {
  constructor(options) {
    super();
    this.options = options;
    this.webContents = new FakeWebContents('');
    this.url = undefined;
    windows.push(this);
    record.windows.push({ options });
    appEvents.emit('web-contents-created', {}, this.webContents);
  }
  static getAllWindows() {
    return windows;
  }
  loadURL(url) {
    this.url = url;
    this.webContents.mainFrame.url = url;
    record.windows.at(-1).url = url;
    process.nextTick(() => process.send?.({ type: 'loaded', url }));
    return Promise.resolve();
  }
  maximize() {}
  setFullScreen() {}
  show() {}
  focus() {}
  restore() {}
  isMinimized() {
    return false;
  }
  isMaximized() {
    return false;
  }
  isFullScreen() {
    return false;
  }
  getNormalBounds() {
    return { x: 10, y: 20, width: 1300, height: 800 };
  }
}

/** utilityProcess.fork as a forked Node child with the UtilityProcess surface. */
function forkUtility(modulePath, args = [], options = {}) {
  record.forks.push({ modulePath, serviceName: options.serviceName, stdio: options.stdio });
  const child = childProcess.fork(modulePath, args, { serialization: 'advanced', env: options.env, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
  const utility = new EventEmitter();
  utility.stderr = child.stderr;
  utility.stdout = null;
  utility.postMessage = (message) => child.connected && child.send(message);
  utility.kill = () => child.kill();
  child.on('message', (message) => utility.emit('message', message));
  child.on('exit', (code) => utility.emit('exit', code ?? 1));
  return utility;
}

const electron = {
  app: Object.assign(appEvents, {
    isPackaged: false,
    getAppPath: () => appPath,
    getPath: () => os.tmpdir(),
    enableSandbox: () => (record.sandbox = true),
    requestSingleInstanceLock: () => true,
    whenReady: () => ready,
    isReady: () => true,
    quit: () => {
      record.quit++;
      const event = { defaultPrevented: false, preventDefault() { this.defaultPrevented = true; } };
      appEvents.emit('before-quit', event);
      if (event.defaultPrevented) return;
      // As Electron does once 'before-quit' lets it: close every window, then quit.
      for (const window of windows) {
        window.emit('close', { preventDefault() {} });
        window.emit('closed');
      }
      process.send?.({ type: 'quit' });
    },
    exit: (code) => {
      record.exit = code;
      process.send?.({ type: 'exit', code });
    },
    setAboutPanelOptions: () => undefined,
    addRecentDocument: () => undefined,
    clearRecentDocuments: () => undefined,
  }),
  protocol: {
    registerSchemesAsPrivileged: (schemes) => record.schemes.push(...schemes),
    handle: (scheme, handler) => protocolHandlers.set(scheme, handler),
  },
  session: {
    defaultSession: {
      setPermissionRequestHandler: (h) => (sessionHandlers.request = h),
      setPermissionCheckHandler: (h) => (sessionHandlers.check = h),
      setDevicePermissionHandler: (h) => (sessionHandlers.device = h),
    },
  },
  ipcMain: {
    handle: (channel, handler) => ipcHandlers.set(channel, handler),
    removeHandler: (channel) => ipcHandlers.delete(channel),
  },
  screen: { getAllDisplays: () => [{ workArea: { x: 0, y: 0, width: 1920, height: 1080 } }] },
  BrowserWindow,
  Menu: {
    buildFromTemplate: (template) => template,
    setApplicationMenu: (menu) => {
      menuTemplate = menu;
      const file = menu.find((item) => item.label === '&File');
      const recent = file?.submenu.find((item) => item.label === 'Open Recent')?.submenu ?? [];
      record.menus.push({ top: menu.map((item) => item.label ?? item.role), recent: recent.map((item) => item.toolTip ?? item.label) });
    },
  },
  dialog: {
    showErrorBox: (title, message) => {
      record.errors.push(`${title}: ${message}`);
      process.send?.({ type: 'error', message: `${title}: ${message}` });
    },
    showMessageBox: async () => ({ response: 0 }),
    showOpenDialog: async (...args) => {
      record.openDialogs.push(args.at(-1));
      const answer = nextOpen ?? { canceled: true, filePaths: [] };
      nextOpen = undefined;
      return answer;
    },
    showSaveDialog: async () => ({ canceled: true }),
  },
  shell: {
    openExternal: async (url) => record.externals.push(url),
    openPath: async () => '',
  },
  utilityProcess: { fork: forkUtility },
  contextBridge: { exposeInMainWorld: () => undefined },
  ipcRenderer: {},
};

// Route require('electron') here.
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function resolve(request, ...rest) {
  return request === 'electron' ? __filename : resolveFilename.call(this, request, ...rest);
};
module.exports = electron;

/** The parent's commands: each gets one reply with the same id. */
process.on('message', async (command) => {
  if (!command || typeof command !== 'object' || command.id === undefined) return;
  const reply = (value) => process.send({ id: command.id, value });
  const contents = windows[0]?.webContents;
  try {
    switch (command.op) {
      case 'ready':
        readyResolve();
        return reply(true);
      case 'invoke': {
        const sender = command.sender === 'window' ? contents : new FakeWebContents(command.url);
        const frame = command.subframe ? { url: command.url ?? sender.mainFrame.url, parent: sender.mainFrame } : sender.mainFrame;
        const handler = ipcHandlers.get(command.channel);
        if (!handler) return reply({ noHandler: command.channel });
        return reply(await handler({ sender, senderFrame: frame }, command.payload));
      }
      case 'fetch': {
        const response = await protocolHandlers.get('atelier')(new Request(command.url, { method: command.method ?? 'GET' }));
        return reply({ status: response.status, headers: Object.fromEntries(response.headers), body: await response.text() });
      }
      case 'navigate': {
        let prevented = false;
        contents.emit('will-frame-navigate', { url: command.url, preventDefault: () => (prevented = true) });
        return reply(prevented);
      }
      case 'open-window':
        return reply({ result: contents.windowOpenHandler(command.details), externals: record.externals });
      case 'permission': {
        const granted = await new Promise((resolve) => sessionHandlers.request(contents, command.permission, resolve, { requestingUrl: command.url }));
        return reply({ granted, check: sessionHandlers.check(contents, command.permission, command.url), device: sessionHandlers.device() });
      }
      case 'events':
        return reply(contents.sent);
      case 'record':
        return reply({ ...record, channels: [...ipcHandlers.keys()], schemesHandled: [...protocolHandlers.keys()] });
      case 'second-instance':
        appEvents.emit('second-instance', {}, command.argv, command.cwd);
        return reply(true);
      case 'quit':
        electron.app.quit();
        return reply(true);
      case 'next-open-dialog':
        nextOpen = { canceled: command.paths.length === 0, filePaths: command.paths };
        return reply(true);
      case 'click-menu': {
        // command.path: labels from the top menu down, e.g. ['&File', 'Import Model…']
        let items = menuTemplate;
        let item;
        for (const label of command.path) {
          item = items.find((i) => i.label === label);
          if (!item) return reply({ noItem: label });
          items = item.submenu ?? [];
        }
        item.click();
        return reply(true);
      }
      default:
        return reply({ unknownOp: command.op });
    }
  } catch (error) {
    process.send({ id: command.id, error: String(error?.stack ?? error) });
  }
});
