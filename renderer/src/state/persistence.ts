import { z } from 'zod';
import { GenerationSettings } from '../../../app/contract/projects.js';

// What the studio keeps in this browser between sessions (localStorage): named presets of
// generation settings and the prompts used before. Neither belongs to a project.

export interface Preset {
  name: string;
  settings: Partial<GenerationSettings>;
}

/** Where a browser keeps them (the Web Storage API's two calls); tests pass an in-memory one. */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

const PRESETS_KEY = 'atelier.presets';
const PROMPTS_KEY = 'atelier.prompts';
const MAX_PROMPTS = 200;

// A preset saved by an earlier version holds the settings fields of its day: each is checked
// against today's limits, and what does not fit (or no longer exists) is left out, not applied.
const StoredPreset = z.object({ name: z.string().min(1).max(256), settings: z.record(z.string(), z.unknown()) });
const FIELDS = GenerationSettings.shape;

function settingsFrom(raw: Record<string, unknown>): Partial<GenerationSettings> {
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(FIELDS)) {
    if (raw[key] === undefined) continue;
    const parsed = schema.safeParse(raw[key]);
    if (parsed.success) out[key] = parsed.data;
  }
  return out as Partial<GenerationSettings>;
}

function read(storage: KeyValueStorage | undefined, key: string): unknown {
  try {
    const raw = storage?.getItem(key);
    return raw ? (JSON.parse(raw) as unknown) : undefined;
  } catch {
    // Storage disabled or an entry that is not JSON: start empty rather than fail to start.
    return undefined;
  }
}

function write(storage: KeyValueStorage | undefined, key: string, value: unknown): void {
  try {
    storage?.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: presets and prompts then live for this session only.
  }
}

/** The browser's localStorage where there is one (not in Node tests). */
export function browserStorage(): KeyValueStorage | undefined {
  try {
    return (globalThis as { localStorage?: KeyValueStorage }).localStorage;
  } catch {
    // A sandboxed page may refuse access to storage altogether.
    return undefined;
  }
}

export class LocalPersistence {
  constructor(private readonly storage: KeyValueStorage | undefined = browserStorage()) {}

  loadPresets(): Preset[] {
    const raw = read(this.storage, PRESETS_KEY);
    if (!Array.isArray(raw)) return [];
    return raw.flatMap((item) => {
      const parsed = StoredPreset.safeParse(item);
      return parsed.success ? [{ name: parsed.data.name, settings: settingsFrom(parsed.data.settings) }] : [];
    });
  }

  savePresets(presets: readonly Preset[]): void {
    write(this.storage, PRESETS_KEY, presets);
  }

  loadPrompts(): string[] {
    const raw = read(this.storage, PROMPTS_KEY);
    return Array.isArray(raw) ? raw.filter((p): p is string => typeof p === 'string').slice(0, MAX_PROMPTS) : [];
  }

  savePrompts(prompts: readonly string[]): void {
    write(this.storage, PROMPTS_KEY, prompts);
  }
}

/** The prompt history after using `prompt`: newest first, no repeats, bounded. */
export function withPrompt(history: readonly string[], prompt: string): string[] {
  if (!prompt.trim()) return [...history];
  return [prompt, ...history.filter((p) => p !== prompt)].slice(0, MAX_PROMPTS);
}
