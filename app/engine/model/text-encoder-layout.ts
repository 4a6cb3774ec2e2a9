import path from 'node:path';
import { InvalidModelError } from './errors.js';
import { type GraphIO, type GraphReader, type JsonObject, find, needed, num, staticDim, tensorInputs, tensorOutputs } from './graph-io.js';
import type { TextEncoderLayout } from './layout.js';

const PART = 'text_encoder/model.onnx';

/**
 * text_encoder/: token ids in (int32 or int64, as the exporter chose), hidden states out; the
 * width (768 SD1, 1024 SD2) from the graph, else from config.json, and both must agree.
 */
export async function readTextEncoder(dir: string, read: GraphReader, config: JsonObject | undefined): Promise<{ layout: TextEncoderLayout; io: GraphIO }> {
  const io = await read(path.join(dir, PART), PART);
  const inputs = tensorInputs(io);
  const ids = needed(find(inputs, ['input_ids']) ?? inputs[0], PART, 'input_ids input');
  if (ids.type !== 'int32' && ids.type !== 'int64') {
    throw new InvalidModelError(PART, `${PART} takes ${ids.name} as ${ids.type}; expected int32 or int64 token ids`);
  }
  const outputs = tensorOutputs(io);
  const hidden = needed(find(outputs, ['last_hidden_state']) ?? outputs[0], PART, 'last_hidden_state output');
  const configured = num(config, 'hidden_size');
  const dim = staticDim(hidden, 2) ?? configured;
  if (dim === undefined) throw new InvalidModelError(PART, 'text_encoder output width is unknown (no fixed last dimension, no hidden_size in config.json)');
  if (configured !== undefined && configured !== dim) {
    throw new InvalidModelError('text_encoder/config.json', `text_encoder/config.json says hidden_size ${configured} but ${PART} outputs ${dim}`);
  }
  return { layout: { file: path.join(dir, PART), idsName: ids.name, idsType: ids.type, hiddenName: hidden.name, dim }, io };
}
