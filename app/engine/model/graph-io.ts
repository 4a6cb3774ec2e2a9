import fs from 'node:fs';
import path from 'node:path';
import { InvalidModelError } from './errors.js';
import { isTensorMeta, type TensorMetadata, type ValueMetadata } from './session.js';

// What every part reader of layout.ts shares: a graph's inputs and outputs, the JSON configs
// beside it, and the errors that name the part at fault (docs/model-formats.md).

export interface GraphIO {
  inputs: readonly ValueMetadata[];
  outputs: readonly ValueMetadata[];
}

/** Reads a graph's metadata: `part` is the path relative to the model folder, for errors. */
export type GraphReader = (file: string, part: string) => Promise<GraphIO>;

export type JsonObject = Record<string, unknown>;

/** A JSON object file inside the model folder; a missing optional one is undefined. */
export function readJson(dir: string, rel: string, required: boolean): JsonObject | undefined {
  const file = path.join(dir, rel);
  if (!fs.existsSync(file)) {
    if (required) throw new InvalidModelError(rel, `${rel} is missing`);
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value as JsonObject;
  } catch (error) {
    throw new InvalidModelError(rel, `${rel} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export function tensorInputs(io: GraphIO): TensorMetadata[] {
  return io.inputs.filter(isTensorMeta);
}

export function tensorOutputs(io: GraphIO): TensorMetadata[] {
  return io.outputs.filter(isTensorMeta);
}

/** The first tensor with one of `names`, in the order the names are given. */
export function find(list: TensorMetadata[], names: string[]): TensorMetadata | undefined {
  for (const n of names) {
    const hit = list.find((m) => m.name === n);
    if (hit) return hit;
  }
  return undefined;
}

/** `value`, or an InvalidModelError saying the part lacks `what`. */
export function needed<T>(value: T | undefined, part: string, what: string): T {
  if (value === undefined) throw new InvalidModelError(part, `${part} has no ${what}`);
  return value;
}

/** A dimension the graph fixes (a positive number), else undefined (symbolic or unknown). */
export function staticDim(m: TensorMetadata, axis: number): number | undefined {
  const d = m.shape[axis];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

/** A finite number from a config, else undefined. */
export function num(cfg: JsonObject | undefined, key: string): number | undefined {
  const v = cfg?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Folders of the diffusers layout that are never a ControlNet or a second UNet. */
export const STANDARD_PARTS = new Set(['text_encoder', 'unet', 'vae_encoder', 'vae_decoder', 'tokenizer', 'scheduler', 'safety_checker', 'feature_extractor', 'text_encoder_2', 'tokenizer_2']);
