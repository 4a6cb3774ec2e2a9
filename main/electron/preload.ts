// The preload: runs sandboxed (no Node), before the page, in its own world. It exposes
// window.atelier and nothing else; see preload-bridge.ts.
import { contextBridge, ipcRenderer } from 'electron';
import { createAtelierBridge } from './preload-bridge.js';

contextBridge.exposeInMainWorld('atelier', createAtelierBridge(ipcRenderer));
