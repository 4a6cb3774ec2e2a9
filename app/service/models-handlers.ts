import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { ApiError, type ManagedModel, type ModelDefaults, type ModelEntry, type ModelJob, type ModelSource, type StudioEvent, type modelsMethods } from '../contract/index.js';
import type { AreaHandlers } from './context.js';
import { HUB } from './model-download.js';
import type { ModelTask, ModelTaskProgress } from './model-job-run.js';
import { startModelTask } from './model-jobs.js';
import { modelsDir } from './model-import.js';
import { isSpecialFilesystemPath } from './paths.js';
import { STARTER_MODEL_ID, type ModelRegistry } from './models-registry.js';
import { toApiError } from './studio.js';

// The model manager's side of the studio (docs/models.md, "The model manager"): the catalog
// (the registry's models with size, hashes, source, preview and per-model defaults), imports
// and Hub downloads run one at a time as jobs whose progress goes out as `models.job` events,
// rename, delete and per-model defaults. Per-model data (defaults, where a download came from)
// is kept in settings.json under "modelSettings", beside the registry's "models".

export interface ModelsAreaOptions {
  home: string;
  /** The generation area's registry: the picker and the catalog list the same models. */
  registry: ModelRegistry;
  emit(event: StudioEvent): void;
  /** The library's hash of a model folder (what history and PNGs record). */
  modelHash(dir: string): string;
  /** Model ids that queued or running generations use: those are not deleted under them. */
  modelsInUse(): Set<string>;
  /** The Hub (default HF_ENDPOINT, as huggingface_hub reads it, else https://huggingface.co). */
  endpoint?: string;
  /** Import options the studio does not expose (tests: float32 weights to compare exactly). */
  importDefaults?: { dtype?: 'float16' | 'float32' };
}

interface ModelSettings {
  defaults?: ModelDefaults;
  hub?: { repo?: string; url?: string; revision?: string; at: string };
}

/** Least time between two progress events of a job (the UI needs a few a second). */
const PROGRESS_INTERVAL_MS = 150;
/** Finished jobs kept for `models.jobs` (a window that reloads sees how the last ones ended). */
const KEPT_JOBS = 20;
const PREVIEW = /^preview\.(png|jpe?g|webp)$/i;

export function modelsArea(options: ModelsAreaOptions): { handlers: AreaHandlers<typeof modelsMethods>; idle(): Promise<void> } {
  const { home, registry, emit } = options;
  const settingsFile = path.join(home, 'settings.json');
  const dir = modelsDir(home);
  const jobs = new Map<string, ModelJob>();
  // One import or download at a time: each converts gigabytes, and two would race for the same names.
  let chain: Promise<void> = Promise.resolve();
  const previews = new Map<string, { stamp: string; url: string | undefined }>();

  const readSettings = (): Record<string, unknown> => {
    try {
      const parsed: unknown = JSON.parse(fs.readFileSync(settingsFile, 'utf8'));
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new ApiError('invalid_file', `${settingsFile} is not valid JSON: ${(error as Error).message}`);
    }
  };
  const allModelSettings = (): Record<string, ModelSettings> => {
    const value = readSettings().modelSettings;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, ModelSettings>) : {};
  };
  /** Rewrites only "modelSettings", atomically (a temp name of its own: the registry writes this file too). */
  const updateModelSettings = (id: string, change: (current: ModelSettings) => ModelSettings | undefined): void => {
    const settings = readSettings();
    const all = { ...allModelSettings() };
    const next = change(all[id] ?? {});
    if (next) all[id] = next;
    else delete all[id];
    const tmp = `${settingsFile}.${process.pid}.models.tmp`;
    fs.mkdirSync(home, { recursive: true });
    fs.writeFileSync(tmp, `${JSON.stringify({ ...settings, modelSettings: all }, null, 2)}\n`);
    fs.renameSync(tmp, settingsFile);
  };

  const hubToken = (given: string | undefined): string | undefined => {
    if (given) return given;
    if (process.env.HF_TOKEN) return process.env.HF_TOKEN;
    const hf = readSettings().huggingface as { token?: unknown } | undefined;
    return typeof hf?.token === 'string' && hf.token ? hf.token : undefined;
  };

  /** A folder directly inside Atelier's models folder: imported or downloaded, so Atelier may delete it. */
  const ownsFiles = (folder: string): boolean => path.dirname(path.resolve(folder)) === path.resolve(dir);

  const findEntry = async (id: string): Promise<ModelEntry> => {
    const entry = (await registry.list()).find((m) => m.id === id);
    if (!entry) throw new ApiError('not_found', `No model "${id}" in the model list`);
    return entry;
  };

  const describe = async (entry: ModelEntry, stored: Record<string, ModelSettings>): Promise<ManagedModel> => {
    const meta = stored[entry.id] ?? {};
    const atelier = readAtelierIndex(entry.path);
    const info = entry.info;
    // The importer's own word first: the engine tells families apart by widths real models have, not the test fixtures'.
    const family = atelier?.family === 'sd1' || atelier?.family === 'sd2' || atelier?.family === 'sdxl' ? atelier.family : (info?.family ?? 'unknown');
    const inpainting = info?.inpainting ?? atelier?.inpainting === true;
    const prediction = info?.prediction ?? (atelier?.prediction === 'v_prediction' ? 'v_prediction' : 'epsilon');
    const variant = [inpainting ? 'inpainting' : 'text to image', prediction === 'v_prediction' ? 'v-prediction' : 'epsilon', ...(info?.lcm ? ['LCM'] : [])].join(' · ');
    const sourceFile = atelier?.source;
    let source: ModelSource;
    if (entry.builtIn) source = { kind: 'bundled' };
    else if (meta.hub) source = { kind: 'hub', ...(meta.hub.repo ? { repo: meta.hub.repo } : {}), ...(meta.hub.url ? { url: meta.hub.url } : {}), ...(meta.hub.revision ? { revision: meta.hub.revision } : {}) };
    else if (sourceFile && typeof sourceFile.path === 'string') source = { kind: sourceFile.kind === 'diffusers-folder' ? 'diffusers-folder' : 'checkpoint', path: sourceFile.path };
    else source = { kind: 'folder', path: entry.path };
    let hash: Pick<ManagedModel, 'sha256' | 'autov2' | 'hashOf'> = {};
    if (typeof sourceFile?.sha256 === 'string' && /^[0-9a-f]{64}$/.test(sourceFile.sha256)) hash = { sha256: sourceFile.sha256, autov2: sourceFile.sha256.slice(0, 10), hashOf: 'file' };
    else if (entry.valid) {
      // The library's folder hash (cached by the files' sizes and times): the one history records.
      const sha256 = options.modelHash(entry.path);
      hash = { sha256, autov2: sha256.slice(0, 10), hashOf: 'folder' };
    }
    const preview = await previewOf(entry.path);
    const added = typeof atelier?.imported === 'string' ? atelier.imported : meta.hub?.at;
    return {
      ...entry,
      family,
      variant,
      bytes: folderBytes(entry.path),
      ...hash,
      source,
      ...(added ? { added } : {}),
      ...(preview ? { preview } : {}),
      defaults: meta.defaults ?? {},
      ownsFiles: !entry.builtIn && ownsFiles(entry.path),
    };
  };

  /** The folder's preview image as a small WebP data: URL, remade only when the file changes; no new route for the web door to guard. */
  const previewOf = async (folder: string): Promise<string | undefined> => {
    let name: string | undefined;
    try {
      name = fs.readdirSync(folder).find((f) => PREVIEW.test(f));
    } catch {
      return undefined; // a missing folder: the entry already says the model is unusable
    }
    if (!name) return undefined;
    const file = path.join(folder, name);
    const stat = fs.lstatSync(file);
    if (!stat.isFile()) return undefined; // a link or a device is not shown
    const stamp = `${file}:${stat.size}:${stat.mtimeMs}`;
    const cached = previews.get(folder);
    if (cached?.stamp === stamp) return cached.url;
    let url: string | undefined;
    try {
      const webp = await sharp(file, { limitInputPixels: 8192 * 8192 }).resize(256, 256, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 80 }).toBuffer();
      url = `data:image/webp;base64,${webp.toString('base64')}`;
    } catch (error) {
      // An unreadable preview is left out, never the model: say why in the log.
      console.error(`atelier: the preview ${file} cannot be shown: ${(error as Error).message}`);
    }
    previews.set(folder, { stamp, url });
    return url;
  };

  const publish = (job: ModelJob) => emit({ type: 'models.job', ...job });

  /** Running and queued jobs' ways to stop. */
  const stoppers = new Map<string, () => boolean>();
  const ended = (j: ModelJob) => j.state === 'completed' || j.state === 'failed' || j.state === 'cancelled';

  /**
   * Queues a job; it runs after the ones before it, on a worker thread (model-jobs.ts), and
   * its progress and end go out as events; `after` runs on the new entry once it is in.
   */
  const startJob = (kind: ModelJob['kind'], label: string, task: ModelTask, after?: (entry: ModelEntry) => void): string => {
    const job: ModelJob = { jobId: `mj_${crypto.randomUUID().slice(0, 12)}`, kind, label, state: 'queued' };
    jobs.set(job.jobId, job);
    for (const old of [...jobs.values()].filter(ended).slice(0, Math.max(0, jobs.size - KEPT_JOBS))) jobs.delete(old.jobId);
    publish(job);
    let last = 0;
    const report = (update: Partial<ModelJob>) => {
      // A new stage and a file's last bytes always go out; in between, a few a second.
      const milestone = (update.stage !== undefined && update.stage !== job.stage) || (update.done !== undefined && update.done === update.total);
      Object.assign(job, update);
      const now = Date.now();
      if (milestone || now - last >= PROGRESS_INTERVAL_MS) {
        last = now;
        publish({ ...job });
      }
    };
    // Downloads take the first half of the bar, their import the second.
    const [importStart, importShare] = kind === 'download' ? [0.5, 0.5] : [0, 1];
    const onProgress = (p: ModelTaskProgress) => {
      if (p.phase === 'import') report({ stage: p.progress.stage, fraction: Math.min(1, importStart + importShare * p.progress.fraction) });
      else {
        const { file, done, total } = p.progress;
        report({ stage: 'download', file, done, ...(total !== undefined ? { total, fraction: Math.min(1, 0.5 * (done / Math.max(1, total))) } : {}) });
      }
    };
    const finish = (state: 'failed' | 'cancelled', caught: unknown) => {
      Object.assign(job, { state, error: toApiError(caught).toJSON() });
      publish({ ...job });
    };
    stoppers.set(job.jobId, () => {
      finish('cancelled', new ApiError('cancelled', 'Cancelled before it started'));
      return true;
    });
    chain = chain.then(async () => {
      if (job.state === 'cancelled') {
        stoppers.delete(job.jobId);
        return;
      }
      Object.assign(job, { state: 'running' });
      publish({ ...job });
      // Temporary folders that exist now are another import's (the CLI's): a stopped thread's are removed below.
      const before = new Set(hiddenImports(dir));
      const running = startModelTask(task, onProgress);
      let stopped = false;
      stoppers.set(job.jobId, () => (stopped = running.cancel()));
      try {
        const entry = await running.result;
        after?.(entry);
        Object.assign(job, { state: 'completed', stage: 'done', fraction: 1, modelId: entry.id, modelName: entry.name });
        publish({ ...job });
        emit({ type: 'models.changed', change: 'added', id: entry.id });
      } catch (caught) {
        if (stopped) for (const leftover of hiddenImports(dir).filter((n) => !before.has(n))) fs.rmSync(path.join(dir, leftover), { recursive: true, force: true });
        finish(stopped ? 'cancelled' : 'failed', caught);
      } finally {
        stoppers.delete(job.jobId);
      }
    });
    return job.jobId;
  };

  const handlers: AreaHandlers<typeof modelsMethods> = {
    'models.catalog': async () => {
      sweepDeleted(dir);
      const stored = allModelSettings();
      const entries = await registry.list();
      return Promise.all(entries.map((e) => describe(e, stored)));
    },
    'models.import': ({ path: source, name, prediction }) => {
      const abs = path.resolve(source);
      // Refused at once, naming the file; the rest (headers, shapes) is the job's to say.
      if (!fs.existsSync(abs)) throw new ApiError('not_found', `${abs} does not exist`, { path: abs });
      // Kernel objects are never read as models, also not through a link (paths.ts: /proc, /sys, /dev).
      if (isSpecialFilesystemPath(fs.realpathSync(abs))) throw new ApiError('bad_request', `${abs} is on a special file system (devices, /proc, /sys), not a model file`, { path: abs });
      const stat = fs.statSync(abs);
      if (!stat.isDirectory() && !stat.isFile()) throw new ApiError('bad_request', `${abs} is neither a file nor a folder`, { path: abs });
      const request = { home, source: abs, ...(name ? { name } : {}), ...(prediction ? { prediction } : {}), ...(options.importDefaults?.dtype ? { dtype: options.importDefaults.dtype } : {}) };
      return { jobId: startJob('import', abs, { kind: 'import', request }) };
    },
    'models.download': ({ ref, name, revision, token }) => {
      const endpoint = options.endpoint ?? process.env.HF_ENDPOINT ?? HUB;
      const secret = hubToken(token);
      const request = {
        home,
        ref,
        endpoint,
        ...(name ? { name } : {}),
        ...(revision ? { revision } : {}),
        // An empty token: none was found here, so the job must not look for HF_TOKEN again.
        token: secret ?? '',
        ...(options.importDefaults?.dtype ? { dtype: options.importDefaults.dtype } : {}),
      };
      const url = /^https?:\/\//.test(ref) ? ref : undefined;
      const jobId = startJob('download', ref, { kind: 'download', request }, (entry) =>
        updateModelSettings(entry.id, (m) => ({ ...m, hub: { ...(url ? { url } : { repo: ref }), revision: revision ?? 'main', at: new Date().toISOString() } })),
      );
      return { jobId };
    },
    'models.cancel': ({ jobId }) => {
      const job = jobs.get(jobId);
      if (!job) throw new ApiError('not_found', `No model job "${jobId}"`);
      const stop = stoppers.get(jobId);
      return { cancelled: !ended(job) && stop !== undefined && stop() };
    },
    'models.jobs': () => [...jobs.values()].map((j) => ({ ...j })),
    'models.rename': async ({ id, name }) => {
      if ([...name].some((c) => c.charCodeAt(0) < 0x20)) throw new ApiError('bad_request', 'A model name cannot hold control characters');
      const entry = await registry.rename(id, name);
      emit({ type: 'models.changed', change: 'renamed', id });
      return entry;
    },
    'models.delete': async ({ id }) => {
      if (id === STARTER_MODEL_ID) throw new ApiError('bad_request', 'The bundled starter model cannot be deleted');
      const entry = await findEntry(id);
      if (options.modelsInUse().has(id)) throw new ApiError('busy', `"${entry.name}" is used by a queued or running generation; delete it when that has finished`);
      let filesRemoved = false;
      if (ownsFiles(entry.path) && fs.existsSync(entry.path)) {
        // Renamed out of the way first (atomic), so no half-deleted folder is ever listed or opened.
        const trash = path.join(dir, `.delete-${path.basename(entry.path).replace(/\s+/g, '_')}-${crypto.randomUUID().slice(0, 8)}`);
        fs.renameSync(entry.path, trash);
        try {
          registry.remove(id);
        } catch (error) {
          fs.renameSync(trash, entry.path);
          throw error;
        }
        // A folder that cannot be removed now (a file held open on Windows) is swept at the next catalog.
        await fs.promises.rm(trash, { recursive: true, force: true }).catch((error: unknown) => console.error(`atelier: ${trash} is left for later: ${(error as Error).message}`));
        filesRemoved = true;
      } else {
        registry.remove(id);
      }
      updateModelSettings(id, () => undefined);
      previews.delete(entry.path);
      emit({ type: 'models.changed', change: 'deleted', id });
      return { deleted: true as const, filesRemoved };
    },
    'models.setDefaults': async ({ id, defaults }) => {
      const entry = await findEntry(id);
      const multiple = entry.info?.sizeMultiple ?? 8;
      for (const side of ['width', 'height'] as const) {
        const v = defaults[side];
        if (v !== undefined && v % multiple !== 0) throw new ApiError('bad_request', `${side} ${v} is not a multiple of ${multiple}, which "${entry.name}" needs`, { field: side });
      }
      const clean = Object.fromEntries(Object.entries(defaults).filter(([, v]) => v !== undefined)) as ModelDefaults;
      updateModelSettings(id, (m) => {
        const next: ModelSettings = { ...m };
        if (Object.keys(clean).length > 0) next.defaults = clean;
        else delete next.defaults;
        return Object.keys(next).length > 0 ? next : undefined;
      });
      emit({ type: 'models.changed', change: 'defaults', id });
      return clean;
    },
  };
  return { handlers, idle: () => chain };
}

interface AtelierIndex {
  family?: unknown;
  inpainting?: unknown;
  prediction?: unknown;
  imported?: unknown;
  source?: { path?: unknown; kind?: unknown; sha256?: unknown };
}

/** model_index.json's "atelier" record, written by the importer (docs/models.md). */
function readAtelierIndex(folder: string): AtelierIndex | undefined {
  try {
    const index = JSON.parse(fs.readFileSync(path.join(folder, 'model_index.json'), 'utf8')) as { atelier?: AtelierIndex };
    return typeof index.atelier === 'object' && index.atelier !== null ? index.atelier : undefined;
  } catch {
    return undefined; // not an imported folder (or no index): described from the engine's inspection alone
  }
}

/** Bytes of the regular files under a folder (links are not followed). */
function folderBytes(folder: string): number {
  let total = 0;
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return; // unreadable: counted as empty, the entry's own error says why
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += fs.statSync(p).size;
    }
  };
  walk(folder);
  return total;
}

/** The importer's temporary folders (`.import-NAME-XXXX`) in the models folder. */
function hiddenImports(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((n) => n.startsWith('.import-'));
  } catch {
    return []; // no models folder yet
  }
}

/** Folders a delete renamed but could not remove (a file held open): removed now. */
function sweepDeleted(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.startsWith('.delete-'));
  } catch {
    return; // no models folder yet
  }
  for (const n of names) {
    try {
      fs.rmSync(path.join(dir, n), { recursive: true, force: true });
    } catch (error) {
      console.error(`atelier: ${path.join(dir, n)} is left for later: ${(error as Error).message}`);
    }
  }
}
