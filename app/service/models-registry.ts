import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { threadId } from 'node:worker_threads';
import { ApiError, type ModelEntry, type ModelInfo } from '../contract/index.js';

// The models an artist can pick: the bundled starter model (resources/models/starter) and
// folders they added, remembered in ATELIER_HOME/settings.json under "models". Every entry is
// checked with the engine's inspectModel; a broken one stays listed with its error so the
// artist sees why it cannot be used.

export const STARTER_MODEL_ID = 'starter';

/** resources/models/starter beside the app (app/service → repository or app root). */
export function defaultStarterDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'resources', 'models', 'starter');
}

export type Inspect = (dir: string) => Promise<ModelInfo>;

interface StoredModel {
  id: string;
  name: string;
  path: string;
}

export interface ModelRegistryOptions {
  home: string;
  inspect: Inspect;
  /** The bundled model's folder; defaults to resources/models/starter. */
  starterDir?: string;
}

export class ModelRegistry {
  private readonly settingsFile: string;
  private readonly starterDir: string;
  /** inspectModel results by folder, until the folder's model files change. */
  private readonly inspected = new Map<string, { stamp: string; result: ModelInfo | ApiError }>();

  constructor(private readonly options: ModelRegistryOptions) {
    this.settingsFile = path.join(options.home, 'settings.json');
    this.starterDir = options.starterDir ?? defaultStarterDir();
  }

  async list(): Promise<ModelEntry[]> {
    const entries: ModelEntry[] = [];
    if (fs.existsSync(this.starterDir)) entries.push(await this.entry({ id: STARTER_MODEL_ID, name: 'Starter model (bundled)', path: this.starterDir }, true));
    for (const stored of this.readStored()) entries.push(await this.entry(stored, false));
    return entries;
  }

  async add(dir: string, name?: string): Promise<ModelEntry> {
    const abs = path.resolve(dir);
    if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) throw new ApiError('invalid_model', `${abs} is not a model folder`, { part: '.' });
    const info = await this.inspectFresh(abs); // throws invalid_model naming the part
    const stored = this.readStored();
    const existing = stored.find((m) => m.path === abs);
    const entry: StoredModel = existing ? { ...existing, name: name ?? existing.name } : { id: modelId(abs), name: name ?? path.basename(abs), path: abs };
    this.writeStored(existing ? stored.map((m) => (m.path === abs ? entry : m)) : [...stored, entry]);
    return { ...entry, builtIn: false, valid: true, info };
  }

  remove(id: string): boolean {
    if (id === STARTER_MODEL_ID) throw new ApiError('bad_request', 'The bundled starter model cannot be removed');
    const stored = this.readStored();
    const kept = stored.filter((m) => m.id !== id);
    if (kept.length === stored.length) return false;
    this.writeStored(kept);
    return true;
  }

  /** A registered model's display name (its folder keeps its name, so its id and history stay valid). */
  async rename(id: string, name: string): Promise<ModelEntry> {
    if (id === STARTER_MODEL_ID) throw new ApiError('bad_request', 'The bundled starter model cannot be renamed');
    const stored = this.readStored();
    const found = stored.find((m) => m.id === id);
    if (!found) throw new ApiError('not_found', `No registered model "${id}"`);
    const entry = { ...found, name };
    this.writeStored(stored.map((m) => (m.id === id ? entry : m)));
    return this.entry(entry, false);
  }

  /** inspectModel without the cache, wrapping unexpected failures as invalid_model. */
  async inspectFresh(dir: string): Promise<ModelInfo> {
    const abs = path.resolve(dir);
    this.inspected.delete(abs);
    const result = await this.inspectCached(abs);
    if (result instanceof ApiError) throw result;
    return result;
  }

  /** A model reference from a request (registered id, 'starter', or a folder path) → folder and display name. */
  resolve(model: string): { path: string; name: string; id?: string } {
    if (model === STARTER_MODEL_ID) {
      if (!fs.existsSync(this.starterDir)) throw new ApiError('invalid_model', `The bundled starter model is missing (${this.starterDir})`, { part: '.' });
      return { path: this.starterDir, name: 'starter', id: STARTER_MODEL_ID };
    }
    const stored = this.readStored().find((m) => m.id === model);
    if (stored) return { path: stored.path, name: stored.name, id: stored.id };
    const abs = path.resolve(model);
    if (!fs.existsSync(abs)) throw new ApiError('invalid_model', `No registered model "${model}" and no folder at ${abs}`, { part: '.' });
    return { path: abs, name: path.basename(abs) };
  }

  /** Model info for a folder, cached until its files change; throws the stored invalid_model error. */
  async info(dir: string): Promise<ModelInfo> {
    const result = await this.inspectCached(path.resolve(dir));
    if (result instanceof ApiError) throw result;
    return result;
  }

  private async entry(stored: StoredModel, builtIn: boolean): Promise<ModelEntry> {
    const result = await this.inspectCached(stored.path);
    return result instanceof ApiError
      ? { ...stored, builtIn, valid: false, error: result.message }
      : { ...stored, builtIn, valid: true, info: result };
  }

  private async inspectCached(abs: string): Promise<ModelInfo | ApiError> {
    const stamp = folderStamp(abs);
    const cached = this.inspected.get(abs);
    if (cached && cached.stamp === stamp) return cached.result;
    let result: ModelInfo | ApiError;
    try {
      result = await this.options.inspect(abs);
    } catch (error) {
      result =
        error instanceof ApiError
          ? error
          : new ApiError('invalid_model', `${abs} is not a usable model: ${error instanceof Error ? error.message : String(error)}`, { part: '.' });
    }
    this.inspected.set(abs, { stamp, result });
    return result;
  }

  private readStored(): StoredModel[] {
    const settings = this.readSettings();
    const models = Array.isArray(settings.models) ? settings.models : [];
    // settings.json is the artist's file too: keep only well-formed entries, never throw on a stray one.
    return models.filter((m): m is StoredModel => {
      const r = m as Partial<Record<keyof StoredModel, unknown>> | null;
      return typeof r === 'object' && r !== null && typeof r.id === 'string' && typeof r.name === 'string' && typeof r.path === 'string';
    });
  }

  private readSettings(): Record<string, unknown> & { models?: unknown[] } {
    try {
      const parsed: unknown = JSON.parse(fs.readFileSync(this.settingsFile, 'utf8'));
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new ApiError('invalid_file', `${this.settingsFile} is not valid JSON: ${(error as Error).message}`);
    }
  }

  /** Rewrites only the "models" key (other areas keep their settings there too), atomically. */
  private writeStored(models: StoredModel[]): void {
    const settings = { ...this.readSettings(), models };
    // The thread too: a model job's worker thread (model-jobs.ts) registers what it imported from the same process.
    const tmp = `${this.settingsFile}.${process.pid}.${threadId}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(settings, null, 2)}\n`);
    fs.renameSync(tmp, this.settingsFile);
  }
}

function modelId(abs: string): string {
  return `m_${crypto.createHash('sha256').update(abs).digest('hex').slice(0, 12)}`;
}

/** Sizes and mtimes of the folder's .onnx/.json files (not hidden ones), two levels deep: changes when the model does. */
function folderStamp(dir: string): string {
  const parts: string[] = [];
  const walk = (d: string, depth: number) => {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      parts.push(`missing:${d}`);
      return;
    }
    for (const e of names.sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory() && depth < 2) walk(p, depth + 1);
      // hidden files are the engine's own (a graph built for a provider, model/provider-graph.ts), not the model
      else if (e.isFile() && !e.name.startsWith('.') && /\.(onnx|onnx_data|json|txt|pb)$/.test(e.name)) {
        const s = fs.statSync(p);
        parts.push(`${p}:${s.size}:${s.mtimeMs}`);
      }
    }
  };
  walk(dir, 0);
  return parts.join('|');
}
