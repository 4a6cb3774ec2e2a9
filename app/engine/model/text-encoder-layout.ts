import path from 'node:path';
import { InvalidModelError } from './errors.js';
import { type GraphIO, type GraphReader, type JsonObject, find, needed, num, staticDim, tensorInputs, tensorOutputs } from './graph-io.js';
import type { TextEncoderLayout } from './layout.js';

export interface TextEncoderOptions {
  /** The folder: text_encoder (SD, SDXL's CLIP-L) or text_encoder_2 (SDXL's OpenCLIP-bigG). */
  folder?: 'text_encoder' | 'text_encoder_2';
  /**
   * SDXL: the UNet takes the penultimate layer's hidden states (diffusers
   * `hidden_states[-2]`), exported by Optimum as `hidden_states.0…N`; text_encoder_2 also
   * gives the pooled, projected `text_embeds`.
   */
  sdxl?: boolean;
}

const HIDDEN_STATE = /^hidden_states\.(\d+)$/;

/**
 * A text encoder: token ids in (int32 or int64, as the exporter chose), hidden states out; the
 * width (768 SD1, 1024 SD2; 768 + 1280 SDXL) from the graph, else from config.json, and both
 * must agree (docs/model-formats.md).
 */
export async function readTextEncoder(dir: string, read: GraphReader, config: JsonObject | undefined, opts: TextEncoderOptions = {}): Promise<{ layout: TextEncoderLayout; io: GraphIO }> {
  const folder = opts.folder ?? 'text_encoder';
  const part = `${folder}/model.onnx`;
  const io = await read(path.join(dir, part), part);
  const inputs = tensorInputs(io);
  const ids = needed(find(inputs, ['input_ids']) ?? inputs[0], part, 'input_ids input');
  if (ids.type !== 'int32' && ids.type !== 'int64') {
    throw new InvalidModelError(part, `${part} takes ${ids.name} as ${ids.type}; expected int32 or int64 token ids`);
  }
  const outputs = tensorOutputs(io);
  let hidden = needed(find(outputs, ['last_hidden_state']) ?? outputs[0], part, 'last_hidden_state output');
  let pooled: (typeof outputs)[number] | undefined;
  if (opts.sdxl) {
    const states = outputs.filter((m) => HIDDEN_STATE.test(m.name)).sort((a, b) => Number(HIDDEN_STATE.exec(a.name)![1]) - Number(HIDDEN_STATE.exec(b.name)![1]));
    if (states.length < 2) {
      throw new InvalidModelError(part, `${part} gives no hidden_states.N outputs: SDXL needs the penultimate layer's (export the text encoders with output_hidden_states)`);
    }
    hidden = states[states.length - 2]!;
    if (folder === 'text_encoder_2') pooled = needed(find(outputs, ['text_embeds']), part, 'text_embeds output (the pooled, projected embedding SDXL needs)');
  }
  const configured = num(config, 'hidden_size');
  const dim = staticDim(hidden, 2) ?? configured;
  if (dim === undefined) throw new InvalidModelError(part, `${folder} output width is unknown (no fixed last dimension, no hidden_size in config.json)`);
  if (configured !== undefined && configured !== dim) {
    throw new InvalidModelError(`${folder}/config.json`, `${folder}/config.json says hidden_size ${configured} but ${part} outputs ${dim}`);
  }
  const pooledDim = pooled ? (staticDim(pooled, 1) ?? num(config, 'projection_dim')) : undefined;
  if (pooled && pooledDim === undefined) throw new InvalidModelError(part, `${part}: the width of text_embeds is unknown (no fixed dimension, no projection_dim in config.json)`);
  const layout: TextEncoderLayout = {
    file: path.join(dir, part),
    part,
    tokenizerDir: path.join(dir, folder === 'text_encoder' ? 'tokenizer' : 'tokenizer_2'),
    idsName: ids.name,
    idsType: ids.type,
    hiddenName: hidden.name,
    dim,
    ...(pooled ? { pooledName: pooled.name, pooledDim: pooledDim! } : {}),
  };
  return { layout, io };
}
