import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InvalidModelError } from '../model/errors.js';
import { writeGraphOnto, type WeightIndex } from '../graph/core.js';
import { readBuiltGraph, rebuildGraph } from '../graph/variant.js';
import { fromFloat32Values, readSafetensorsHeader, safetensorsWeights, toFloat32Values } from '../graph/weights.js';
import { LoraError } from './lora.js';

// Textual-inversion embeddings (docs/models.md): A1111's convention — an embedding is used by
// writing its file name in the prompt. Its vectors become new rows of the text encoder's token
// embedding table, in a patched copy of the model folder (like LoRAs: the base is never
// changed): the table's initializer is rewritten at the end of a copied weight file with the
// extra rows, and the tokenizer learns one added token per vector (added_tokens.json), which
// the prompt carries in place of the name.

const TABLE = 'text_model.embeddings.token_embedding.weight';
const COMPLETE = '.complete';

export interface Embedding {
  name: string;
  file: string;
  /** n × width values: SD 1.x/2.x's (`emb_params`, `string_to_param`), or SDXL's `clip_l` (text_encoder) */
  vectors: Float32Array;
  count: number;
  width: number;
  /** SDXL's `clip_g`: n × width values for text_encoder_2 (OpenCLIP-bigG) */
  second?: { vectors: Float32Array; width: number };
}

/** Reads one [n, width] or [width] float tensor of an embedding file. */
function readVectors(file: string, key: string): { vectors: Float32Array; count: number; width: number } {
  const label = path.basename(file);
  const weights = safetensorsWeights(file);
  const info = weights.info(key);
  if (!info || info.shape.length < 1 || info.shape.length > 2) throw new LoraError(file, `${label}: ${key} is not a [vectors, width] float tensor`);
  const [count, width] = info.shape.length === 2 ? [info.shape[0]!, info.shape[1]!] : [1, info.shape[0]!];
  if (count < 1 || count > 75) throw new LoraError(file, `${label} has ${count} vectors; a prompt holds at most 75 tokens`);
  return { vectors: toFloat32Values(weights.read(key), info.dtype), count, width };
}

/**
 * A textual-inversion embedding: A1111/kohya's SD 1.x/2.x files (`emb_params` or
 * `string_to_param.*`, [n, width] or [width]) or SDXL's (`clip_l` and `clip_g`, the same n).
 */
export function readEmbedding(file: string, name = path.basename(file).replace(/\.safetensors$/i, '')): Embedding {
  const label = path.basename(file);
  if (!/\.safetensors$/i.test(file)) throw new LoraError(file, `${label}: embeddings are read from .safetensors files only (pickles can run code)`);
  const keys = [...readSafetensorsHeader(file).entries.keys()];
  if (keys.includes('clip_l') || keys.includes('clip_g')) {
    if (!keys.includes('clip_l') || !keys.includes('clip_g')) throw new LoraError(file, `${label} is an SDXL embedding with only ${keys.includes('clip_l') ? 'clip_l' : 'clip_g'}; it needs both clip_l and clip_g`);
    const l = readVectors(file, 'clip_l');
    const g = readVectors(file, 'clip_g');
    if (l.count !== g.count) throw new LoraError(file, `${label}: clip_l has ${l.count} vectors and clip_g ${g.count}; an SDXL embedding has as many of each`);
    return { name, file, ...l, second: { vectors: g.vectors, width: g.width } };
  }
  const key = keys.find((k) => k === 'emb_params') ?? keys.find((k) => k.startsWith('string_to_param'));
  if (!key) throw new LoraError(file, `${label} is not a textual-inversion embedding (no emb_params or string_to_param tensor)`);
  return { name, file, ...readVectors(file, key) };
}

/** The added tokens standing for an embedding's vectors, in order (what the prompt carries instead of its name). */
export function embeddingTokens(e: Pick<Embedding, 'name' | 'count'>): string[] {
  // The name sits between underscores, so a prompt scan for the name never matches inside them.
  return Array.from({ length: e.count }, (_, i) => `<emb_${e.name}_${i}>`);
}

function link(from: string, to: string): void {
  try {
    fs.symlinkSync(from, to, fs.statSync(from).isDirectory() ? 'junction' : 'file');
  } catch {
    fs.cpSync(from, to, { recursive: true });
  }
}

export interface EmbeddedModel {
  dir: string;
  cached: boolean;
  /** Per embedding name: the text that replaces the name in a prompt. */
  replacements: Record<string, string>;
}

/** A text encoder of the model and the tokenizer folder that feeds it. */
interface Encoder {
  folder: 'text_encoder' | 'text_encoder_2';
  tokenizer: 'tokenizer' | 'tokenizer_2';
  index: WeightIndex;
  table: WeightIndex['tensors'][number];
  /** Each embedding's rows for this encoder. */
  rows: (e: Embedding) => Float32Array;
}

function readTable(abs: string, folder: Encoder['folder']): { index: WeightIndex; table: WeightIndex['tensors'][number] } {
  const indexFile = path.join(abs, folder, 'model.onnx.weights.json');
  if (!fs.existsSync(indexFile)) throw new InvalidModelError(`${folder}/model.onnx`, `embeddings apply to models Atelier built (atelier models import); ${path.basename(abs)}/${folder} has no model.onnx.weights.json`);
  const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as WeightIndex;
  const table = index.tensors.find((t) => t.weight === TABLE && !t.transpose);
  if (!table) throw new InvalidModelError(`${folder}/model.onnx`, `${path.basename(abs)}/${folder} has no ${TABLE}`);
  return { index, table };
}

/**
 * The encoders an embedding set extends, checked against it: SD 1.x/2.x's text_encoder takes
 * SD embeddings; SDXL's text_encoder (CLIP-L) takes `clip_l` and text_encoder_2 (bigG) `clip_g`
 * (a refiner has only the latter). Every refusal names the embedding before anything is written.
 */
function encodersFor(abs: string, embeddings: Embedding[]): Encoder[] {
  const xl = fs.existsSync(path.join(abs, 'text_encoder_2'));
  const encoders: Encoder[] = [];
  if (fs.existsSync(path.join(abs, 'text_encoder')) || !xl) encoders.push({ folder: 'text_encoder', tokenizer: 'tokenizer', ...readTable(abs, 'text_encoder'), rows: (e) => e.vectors });
  if (xl) encoders.push({ folder: 'text_encoder_2', tokenizer: 'tokenizer_2', ...readTable(abs, 'text_encoder_2'), rows: (e) => e.second!.vectors });
  for (const e of embeddings) {
    const label = path.basename(e.file);
    if (xl && !e.second) throw new LoraError(e.file, `embedding ${label} is an SD 1.x/2.x embedding; this SDXL model takes SDXL embeddings (clip_l and clip_g)`);
    if (!xl && e.second) throw new LoraError(e.file, `${label} is an SDXL embedding (clip_l/clip_g); it cannot be used with an SD 1.x/2.x model`);
    for (const enc of encoders) {
      const width = enc.table.shape[1]!;
      const given = enc.folder === 'text_encoder' ? e.width : e.second!.width;
      if (given !== width) throw new LoraError(e.file, `embedding ${label} is ${given} wide${xl ? ` for ${enc.folder}` : ''}, this model's ${enc.folder === 'text_encoder' ? 'text encoder' : 'second text encoder'} ${width} (an embedding for another model family)`);
    }
  }
  return encoders;
}

/** `base` with the embeddings' vectors appended to its token table(s), under `cacheRoot`. */
export async function applyEmbeddings(base: string, embeddings: Embedding[], cacheRoot: string): Promise<EmbeddedModel> {
  const abs = path.resolve(base);
  const encoders = encodersFor(abs, embeddings);
  const tokens = embeddings.map((e) => embeddingTokens(e));
  const replacements = Object.fromEntries(embeddings.map((e, i) => [e.name, tokens[i]!.join('')]));
  const key = crypto.createHash('sha256');
  key.update(fs.realpathSync(abs));
  for (const enc of encoders) key.update(`:${enc.folder}:${fs.statSync(path.join(abs, enc.folder, enc.index.data)).mtimeMs}`);
  for (const e of embeddings) {
    key.update(`|${e.name}:`).update(Buffer.from(e.vectors.buffer, e.vectors.byteOffset, e.vectors.byteLength));
    if (e.second) key.update(Buffer.from(e.second.vectors.buffer, e.second.vectors.byteOffset, e.second.vectors.byteLength));
  }
  const dir = path.join(cacheRoot, `emb-${key.digest('hex').slice(0, 24)}`);
  if (fs.existsSync(path.join(dir, COMPLETE))) return { dir, cached: true, replacements };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(cacheRoot, { recursive: true });
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  try {
    const own = new Set<string>([COMPLETE, ...encoders.flatMap((e) => [e.folder, e.tokenizer])]);
    for (const entry of fs.readdirSync(abs)) if (!own.has(entry)) link(path.join(abs, entry), path.join(tmp, entry));
    for (const enc of encoders) await extendEncoder(abs, tmp, enc, embeddings, tokens);
    fs.writeFileSync(path.join(tmp, COMPLETE), JSON.stringify({ base: abs, embeddings: embeddings.map((e) => e.file) }));
    fs.renameSync(tmp, dir);
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  return { dir, cached: false, replacements };
}

/**
 * One encoder of the copy: its tokenizer learns the added tokens (ids after its vocabulary), and
 * its token table is copied to the end of its copied weight file with the embeddings' rows after it.
 */
async function extendEncoder(abs: string, tmp: string, enc: Encoder, embeddings: Embedding[], tokens: string[][]): Promise<void> {
  const { index, table } = enc;
  const [vocab, width] = [table.shape[0]!, table.shape[1]!];
  const added: Record<string, number> = {};
  let next = vocab;
  for (const t of tokens.flat()) added[t] = next++;
  // tokenizer: the base's files and the added tokens
  const tokDir = path.join(tmp, enc.tokenizer);
  fs.mkdirSync(tokDir);
  for (const f of fs.readdirSync(path.join(abs, enc.tokenizer))) fs.copyFileSync(path.join(abs, enc.tokenizer, f), path.join(tokDir, f));
  const addedFile = path.join(tokDir, 'added_tokens.json');
  const existing = fs.existsSync(addedFile) ? (JSON.parse(fs.readFileSync(addedFile, 'utf8')) as Record<string, number>) : {};
  fs.writeFileSync(addedFile, JSON.stringify({ ...existing, ...added }));
  // text encoder: the table copied to the end of the weight file with the new rows after it
  const te = path.join(tmp, enc.folder);
  fs.mkdirSync(te);
  for (const f of fs.readdirSync(path.join(abs, enc.folder))) await fs.promises.copyFile(path.join(abs, enc.folder, f), path.join(te, f), f === index.data ? fs.constants.COPYFILE_FICLONE : 0);
  const dataFile = path.join(te, index.data);
  const rows = Buffer.alloc(table.length);
  const fd = fs.openSync(dataFile, 'r+');
  let offset: number;
  let length: number;
  try {
    fs.readSync(fd, rows, 0, table.length, table.offset);
    const extra = fromFloat32Values(Float32Array.from(embeddings.flatMap((e) => Array.from(enc.rows(e)))), index.storage);
    offset = Math.ceil(fs.fstatSync(fd).size / 4096) * 4096;
    fs.writeSync(fd, rows, 0, rows.length, offset);
    fs.writeSync(fd, extra, 0, extra.byteLength, offset + rows.length);
    length = rows.length + extra.byteLength;
  } finally {
    fs.closeSync(fd);
  }
  const newIndex: WeightIndex = { ...index, tensors: index.tensors.map((t) => (t === table ? { ...t, shape: [next, width], dims: [next, width], offset, length } : t)) };
  fs.writeFileSync(path.join(te, 'model.onnx.weights.json'), JSON.stringify(newIndex));
  // the wider table, and where CLIP's own ids end: the pooled state is the end-of-text token's,
  // which an added token's higher id must not stand in for (clip.ts)
  const configFile = path.join(te, 'config.json');
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(configFile, JSON.stringify({ ...config, vocab_size: next, added_tokens_from: typeof config.added_tokens_from === 'number' ? config.added_tokens_from : vocab }, null, 2));
  // The graph built again over the new index (graph/variant.ts), computing as it did.
  const file = path.join(te, 'model.onnx');
  const built = readBuiltGraph(file);
  if (!built) throw new InvalidModelError(`${enc.folder}/model.onnx`, `${path.basename(abs)}/${enc.folder}/model.onnx is not a graph Atelier built`);
  writeGraphOnto(rebuildGraph(built, { compute: built.compute, fused: 'none' }, enc.folder), built.index, file);
}
