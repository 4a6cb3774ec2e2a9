import path from 'node:path';
import type { OpenDialogOptions, SaveDialogOptions } from 'electron';
import { PROJECT_EXTENSION } from './project-files.js';

// Native open/save dialog options for projects and model imports. Pure; main.ts shows them.

const projectFilters = [{ name: 'Atelier project', extensions: [PROJECT_EXTENSION.slice(1)] }];

export function openProjectDialogOptions(defaultFolder: string | undefined): OpenDialogOptions {
  return {
    title: 'Open Project',
    ...(defaultFolder ? { defaultPath: defaultFolder } : {}),
    filters: projectFilters,
    properties: ['openFile'],
  };
}

/**
 * Import Model: a single-file checkpoint (`.safetensors`; pickles are refused by the importer
 * with its reason, so they are not offered) or a diffusers folder. Windows and Linux dialogs
 * pick files or folders, not both, so the menu has an item for each.
 */
export function importModelDialogOptions(kind: 'file' | 'folder', defaultFolder: string | undefined): OpenDialogOptions {
  const base: OpenDialogOptions = { title: kind === 'file' ? 'Import Model' : 'Import Model Folder (diffusers layout)', ...(defaultFolder ? { defaultPath: defaultFolder } : {}) };
  return kind === 'file' ? { ...base, filters: [{ name: 'Checkpoint', extensions: ['safetensors'] }], properties: ['openFile'] } : { ...base, properties: ['openDirectory'] };
}

export function saveProjectDialogOptions(defaultPath: string): SaveDialogOptions {
  return {
    title: 'Save Project As',
    defaultPath,
    filters: projectFilters,
    properties: ['createDirectory', 'showOverwriteConfirmation'],
  };
}

/**
 * The path a save dialog returned, as a project file. GTK's dialog does not add the
 * filter's extension, so a name typed without any extension gets `.atelier`; a name with
 * another extension is refused rather than renamed behind the artist's back.
 */
export function projectSavePath(chosen: string): { ok: true; path: string } | { ok: false; reason: string } {
  const extension = path.extname(chosen);
  if (extension === '') return { ok: true, path: `${chosen}${PROJECT_EXTENSION}` };
  if (extension.toLowerCase() === PROJECT_EXTENSION) return { ok: true, path: chosen };
  return { ok: false, reason: `Projects are saved as ${PROJECT_EXTENSION} files; "${path.basename(chosen)}" has another extension.` };
}
