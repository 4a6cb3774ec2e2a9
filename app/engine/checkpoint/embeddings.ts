import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InvalidModelError } from '../model/errors.js';
import { rewriteModelProto, type WeightIndex } from '../graph/core.js';
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
  /** n × width values */
  vectors: Float32Array;
  count: number;
  width: number;
}

/** An A1111/kohya SD 1.x/2.x embedding: `emb_params` or `string_to_param.*` ([n, width] or [width]). */
export function readEmbedding(file: string, name = path.basename(file).replace(/\.safetensors$/i, '')): Embedding {
  const label = path.basename(file);
  if (!/\.safetensors$/i.test(file)) throw new LoraError(file, `${label}: embeddings are read from .safetensors files only (pickles can run code)`);
  const keys = [...readSafetensorsHeader(file).entries.keys()];
  if (keys.includes('clip_l') || keys.includes('clip_g')) throw new LoraError(file, `${label} is an SDXL embedding (clip_l/clip_g); it cannot be used with an SD 1.x/2.x model`);
  const key = keys.find((k) => k === 'emb_params') ?? keys.find((k) => k.startsWith('string_to_param'));
  if (!key) throw new LoraError(file, `${label} is not a textual-inversion embedding (no emb_params or string_to_param tensor)`);
  const weights = safetensorsWeights(file);
  const info = weights.info(key);
  if (!info || info.shape.length < 1 || info.shape.length > 2) throw new LoraError(file, `${label}: ${key} is not a [vectors, width] float tensor`);
  const [count, width] = info.shape.length === 2 ? [info.shape[0]!, info.shape[1]!] : [1, info.shape[0]!];
  if (count < 1 || count > 75) throw new LoraError(file, `${label} has ${count} vectors; a prompt holds at most 75 tokens`);
  return { name, file, vectors: toFloat32Values(weights.read(key), info.dtype), count, width };
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

/** `base` with the embeddings' vectors appended to its token table, under `cacheRoot`. */
export async function applyEmbeddings(base: string, embeddings: Embedding[], cacheRoot: string): Promise<EmbeddedModel> {
  const abs = path.resolve(base);
  const indexFile = path.join(abs, 'text_encoder', 'model.onnx.weights.json');
  if (!fs.existsSync(indexFile)) throw new InvalidModelError('text_encoder/model.onnx', `embeddings apply to models Atelier built (atelier models import); ${path.basename(abs)}/text_encoder has no model.onnx.weights.json`);
  const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as WeightIndex;
  const table = index.tensors.find((t) => t.weight === TABLE && !t.transpose);
  if (!table) throw new InvalidModelError('text_encoder/model.onnx', `${path.basename(abs)}/text_encoder has no ${TABLE}`);
  const [vocab, width] = [table.shape[0]!, table.shape[1]!];
  for (const e of embeddings) {
    if (e.width !== width) throw new LoraError(e.file, `embedding ${path.basename(e.file)} is ${e.width} wide, this model's text encoder ${width} (an embedding for another model family)`);
  }
  const replacements: Record<string, string> = {};
  const added: Record<string, number> = {};
  let next = vocab;
  for (const e of embeddings) {
    const tokens = embeddingTokens(e);
    replacements[e.name] = tokens.join('');
    for (const t of tokens) added[t] = next++;
  }
  const key = crypto.createHash('sha256');
  key.update(fs.realpathSync(abs));
  key.update(`:${fs.statSync(path.join(abs, 'text_encoder', index.data)).mtimeMs}`);
  for (const e of embeddings) key.update(`|${e.name}:`).update(Buffer.from(e.vectors.buffer, e.vectors.byteOffset, e.vectors.byteLength));
  const dir = path.join(cacheRoot, `emb-${key.digest('hex').slice(0, 24)}`);
  if (fs.existsSync(path.join(dir, COMPLETE))) return { dir, cached: true, replacements };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(cacheRoot, { recursive: true });
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  try {
    for (const entry of fs.readdirSync(abs)) {
      if (entry === 'text_encoder' || entry === 'tokenizer' || entry === COMPLETE) continue;
      link(path.join(abs, entry), path.join(tmp, entry));
    }
    // tokenizer: the base's files and the added tokens
    fs.mkdirSync(path.join(tmp, 'tokenizer'));
    for (const f of fs.readdirSync(path.join(abs, 'tokenizer'))) fs.copyFileSync(path.join(abs, 'tokenizer', f), path.join(tmp, 'tokenizer', f));
    const existing = fs.existsSync(path.join(tmp, 'tokenizer', 'added_tokens.json')) ? (JSON.parse(fs.readFileSync(path.join(tmp, 'tokenizer', 'added_tokens.json'), 'utf8')) as Record<string, number>) : {};
    fs.writeFileSync(path.join(tmp, 'tokenizer', 'added_tokens.json'), JSON.stringify({ ...existing, ...added }));
    // text encoder: the table copied to the end of the weight file with the new rows after it
    const te = path.join(tmp, 'text_encoder');
    fs.mkdirSync(te);
    for (const f of fs.readdirSync(path.join(abs, 'text_encoder'))) await fs.promises.copyFile(path.join(abs, 'text_encoder', f), path.join(te, f), f === index.data ? fs.constants.COPYFILE_FICLONE : 0);
    const dataFile = path.join(te, index.data);
    const rows = Buffer.alloc(table.length);
    const fd = fs.openSync(dataFile, 'r+');
    let offset: number;
    let length: number;
    try {
      fs.readSync(fd, rows, 0, table.length, table.offset);
      const extra = fromFloat32Values(Float32Array.from(embeddings.flatMap((e) => Array.from(e.vectors))), index.storage);
      offset = Math.ceil(fs.fstatSync(fd).size / 4096) * 4096;
      fs.writeSync(fd, rows, 0, rows.length, offset);
      fs.writeSync(fd, extra, 0, extra.byteLength, offset + rows.length);
      length = rows.length + extra.byteLength;
    } finally {
      fs.closeSync(fd);
    }
    rewriteModelProto(path.join(te, 'model.onnx'), (m) => {
      const init = m.graph.initializer.find((i) => i.name === table.initializer);
      if (!init) throw new InvalidModelError('text_encoder/model.onnx', `text_encoder/model.onnx has no initializer ${table.initializer}`);
      init.dims = [next, width];
      for (const kv of init.externalData) {
        if (kv.key === 'offset') kv.value = String(offset);
        if (kv.key === 'length') kv.value = String(length);
      }
    });
    const newIndex: WeightIndex = { ...index, tensors: index.tensors.map((t) => (t === table ? { ...t, shape: [next, width], dims: [next, width], offset, length } : t)) };
    fs.writeFileSync(path.join(te, 'model.onnx.weights.json'), JSON.stringify(newIndex));
    const configFile = path.join(te, 'config.json');
    if (fs.existsSync(configFile)) fs.writeFileSync(configFile, JSON.stringify({ ...(JSON.parse(fs.readFileSync(configFile, 'utf8')) as object), vocab_size: next }, null, 2));
    fs.writeFileSync(path.join(tmp, COMPLETE), JSON.stringify({ base: abs, embeddings: embeddings.map((e) => e.file) }));
    fs.renameSync(tmp, dir);
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  return { dir, cached: false, replacements };
}
