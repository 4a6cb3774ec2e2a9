import fs from 'node:fs';
import path from 'node:path';
import { ApiError } from '../contract/index.js';
import { sha256File } from '../engine/checkpoint/index.js';
import { runAssetTask } from './asset-tasks.js';

// A1111's prompt syntax for LoRAs, <lora:NAME:WEIGHT> (also <lyco:…>), in the prompt or the
// negative prompt: NAME is a .safetensors file in ATELIER_HOME/loras. The tags are taken out
// of the text the engine encodes; the model the engine opens is the base folder with those
// LoRAs applied, from ATELIER_HOME/cache/lora (docs/models.md). Textual-inversion embeddings
// are used by writing their file name (ATELIER_HOME/embeddings/NAME.safetensors), as in A1111.
// The prompt as written is what history and PNG parameters keep, so recall brings both back.
// Patching runs on a worker thread (asset-tasks.ts), so the API stays responsive.

const TAG = /<(?:lora|lyco):([^:>]+)(?::([^:>]*))?(?::[^>]*)?>/gi;

export interface PromptLora {
  name: string;
  weight: number;
}

/** The LoRA tags of a prompt and the prompt without them. */
export function parsePromptLoras(prompt: string): { prompt: string; loras: PromptLora[] } {
  const loras: PromptLora[] = [];
  const text = prompt.replace(TAG, (_all, name: string, weight: string | undefined) => {
    const w = weight === undefined || weight.trim() === '' ? 1 : Number(weight);
    if (!Number.isFinite(w)) throw new ApiError('bad_request', `<lora:${name}:${weight}>: the weight must be a number`);
    loras.push({ name: name.trim(), weight: w });
    return '';
  });
  return { prompt: text.replace(/[ \t]{2,}/g, ' ').replace(/\s+,/g, ',').trim(), loras };
}

export function lorasDir(home: string): string {
  return path.join(home, 'loras');
}

export function embeddingsDir(home: string): string {
  return path.join(home, 'embeddings');
}

/** Embedding names written in the text as whole words (case-insensitive, as CLIP lower-cases). */
function nameRegex(name: string): RegExp {
  return new RegExp(`(?<![\\p{L}\\p{N}_-])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\p{L}\\p{N}_-])`, 'giu');
}

/** The embeddings in ATELIER_HOME/embeddings that either prompt names. */
function embeddingsUsed(home: string, texts: string[]): { name: string; file: string }[] {
  const dir = embeddingsDir(home);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /\.safetensors$/i.test(f))
    .map((f) => ({ name: f.replace(/\.safetensors$/i, ''), file: path.join(dir, f) }))
    .filter((e) => texts.some((t) => nameRegex(e.name).test(t)));
}

const hashes = new Map<string, { stamp: string; sha256: string }>();

export async function fileSha256(file: string): Promise<string> {
  const s = fs.statSync(file);
  const stamp = `${s.size}:${s.mtimeMs}`;
  const hit = hashes.get(file);
  if (hit?.stamp === stamp) return hit.sha256;
  // Streamed in 4 MiB chunks: the event loop gets a turn between them.
  const sha256 = await sha256File(file);
  hashes.set(file, { stamp, sha256 });
  return sha256;
}

export interface PreparedLoras {
  /** The patched model folder for the engine. */
  modelPath: string;
  prompt: string;
  negativePrompt: string;
  /** A1111's "Lora hashes" value: `name: first 10 digits of sha256, …`. */
  loraHashes: string;
  notes: string[];
}

/** The model and prompts the engine gets for LoRA tags and embedding names; undefined when the prompts use neither. */
export async function preparePromptModel(home: string, modelPath: string, prompt: string, negativePrompt: string): Promise<PreparedLoras | undefined> {
  const loras = await preparePromptLoras(home, modelPath, prompt, negativePrompt);
  const texts = loras ? [loras.prompt, loras.negativePrompt] : [prompt, negativePrompt];
  const used = embeddingsUsed(home, texts);
  if (used.length === 0) return loras;
  const embedded = await runAssetTask({ kind: 'embeddings', base: loras?.modelPath ?? modelPath, embeddings: used, cacheRoot: path.join(home, 'cache', 'embeddings') });
  const replace = (text: string) => used.reduce((t, e) => t.replace(nameRegex(e.name), embedded.replacements[e.name]!), text);
  return { modelPath: embedded.dir, prompt: replace(texts[0]!), negativePrompt: replace(texts[1]!), loraHashes: loras?.loraHashes ?? '', notes: loras?.notes ?? [] };
}

/** undefined when neither prompt names a LoRA. */
export async function preparePromptLoras(home: string, modelPath: string, prompt: string, negativePrompt: string): Promise<PreparedLoras | undefined> {
  const pos = parsePromptLoras(prompt);
  const neg = parsePromptLoras(negativePrompt);
  const all = [...pos.loras, ...neg.loras];
  if (all.length === 0) return undefined;
  // One strength per name: a LoRA named twice adds up, as A1111 applies each tag.
  const merged = new Map<string, number>();
  for (const l of all) merged.set(l.name, (merged.get(l.name) ?? 0) + l.weight);
  const uses = [];
  for (const [name, weight] of merged) {
    if (name.includes('/') || name.includes('\\') || name.startsWith('.')) throw new ApiError('bad_request', `<lora:${name}>: a LoRA is named by its file name in ${lorasDir(home)}`);
    const file = path.join(lorasDir(home), `${name}.safetensors`);
    if (!fs.existsSync(file)) throw new ApiError('not_found', `LoRA "${name}" not found: no ${name}.safetensors in ${lorasDir(home)}`, { lora: name });
    uses.push({ name, file, weight, sha256: await fileSha256(file) });
  }
  const patched = await runAssetTask({ kind: 'loras', base: modelPath, loras: uses.map(({ file, weight, sha256 }) => ({ file, weight, sha256 })), cacheRoot: path.join(home, 'cache', 'lora') });
  return {
    modelPath: patched.dir,
    prompt: pos.prompt,
    negativePrompt: neg.prompt,
    loraHashes: uses.map((u) => `${u.name}: ${u.sha256.slice(0, 10)}`).join(', '),
    notes: Object.entries(patched.unmatched).map(([file, modules]) => `${file}: ${modules.length} module(s) match no weight of the model (${modules.slice(0, 2).join(', ')})`),
  };
}
