import fs from 'node:fs';
import path from 'node:path';
import { float32ToFloat16, fromFloat16Bits } from '../model/float16.js';
import { InvalidModelError } from '../model/errors.js';

// Named weights for the graph builder (docs/graph-builder.md): diffusers' / transformers' names
// ("down_blocks.0.resnets.1.conv1.weight"), a dtype and a shape per tensor, bytes read only
// when the graph is written, so a checkpoint reader can hand over a multi-gigabyte file
// without it ever sitting whole in the JavaScript heap.

export type WeightDType = 'float32' | 'float16' | 'bfloat16';

export interface WeightInfo {
  dtype: WeightDType;
  shape: readonly number[];
}

export interface WeightSource {
  /** For error messages: the file or folder the weights come from. */
  readonly label: string;
  names(): string[];
  info(name: string): WeightInfo | undefined;
  /** The tensor's bytes, little-endian, row-major, in info(name).dtype. */
  read(name: string): Uint8Array;
}

const BYTES: Record<WeightDType, number> = { float32: 4, float16: 2, bfloat16: 2 };

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

let halfTable: Float32Array | undefined;
/** float16 → float32 by table: a full-size UNet has 860 M weights to convert. */
function halfToFloat(bits: Uint16Array): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = fromFloat16Bits(h);
  }
  const table = halfTable;
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

/** Any float weight as float32 values. */
export function toFloat32Values(bytes: Uint8Array, dtype: WeightDType): Float32Array {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  switch (dtype) {
    case 'float32':
      return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4).slice();
    case 'float16':
      return halfToFloat(new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2));
    case 'bfloat16': {
      const src = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2);
      const out = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = src[i]! << 16;
      return new Float32Array(out.buffer);
    }
  }
}

/** float32 values as the bytes of a float32 or float16 tensor. */
export function fromFloat32Values(values: Float32Array, dtype: 'float32' | 'float16'): Uint8Array {
  if (dtype === 'float32') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const half = float32ToFloat16(values);
  return new Uint8Array(half.buffer, half.byteOffset, half.byteLength);
}

/** Weights held in memory (tests, and weights already patched in memory). */
export class MemoryWeights implements WeightSource {
  readonly label: string;
  private readonly tensors = new Map<string, { info: WeightInfo; bytes: Uint8Array }>();

  constructor(label: string) {
    this.label = label;
  }

  set(name: string, values: Float32Array, shape: readonly number[]): this {
    if (elementCount(shape) !== values.length) throw new Error(`${name}: ${values.length} values for shape [${shape.join(', ')}]`);
    this.tensors.set(name, { info: { dtype: 'float32', shape: [...shape] }, bytes: new Uint8Array(values.slice().buffer) });
    return this;
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  info(name: string): WeightInfo | undefined {
    return this.tensors.get(name)?.info;
  }

  read(name: string): Uint8Array {
    const t = this.tensors.get(name);
    if (!t) throw new InvalidModelError(this.label, `${this.label} has no weight ${name}`);
    return t.bytes;
  }
}

/** Only the weights under `prefix` ("unet." in a whole-pipeline source), without it. */
export function withPrefix(source: WeightSource, prefix: string): WeightSource {
  return {
    label: source.label,
    names: () => source.names().filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length)),
    info: (name) => source.info(prefix + name),
    read: (name) => source.read(prefix + name),
  };
}

// ---- safetensors: an 8-byte little-endian header length, a JSON header, then the bytes ----

const SAFETENSORS_DTYPES: Record<string, { dtype: string; bytes: number }> = {
  F32: { dtype: 'float32', bytes: 4 },
  F16: { dtype: 'float16', bytes: 2 },
  BF16: { dtype: 'bfloat16', bytes: 2 },
  F64: { dtype: 'float64', bytes: 8 },
  I64: { dtype: 'int64', bytes: 8 },
  I32: { dtype: 'int32', bytes: 4 },
  I16: { dtype: 'int16', bytes: 2 },
  I8: { dtype: 'int8', bytes: 1 },
  U8: { dtype: 'uint8', bytes: 1 },
  BOOL: { dtype: 'bool', bytes: 1 },
};

export interface SafetensorsEntry {
  /** float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8 or bool */
  dtype: string;
  shape: number[];
  /** Absolute byte offset in the file and length. */
  offset: number;
  length: number;
}

const MAX_HEADER = 100 * 1024 * 1024;

/** Reads a .safetensors header and checks that every tensor lies inside the file and has the bytes its shape says. */
export function readSafetensorsHeader(file: string): { entries: Map<string, SafetensorsEntry>; metadata: Record<string, string> } {
  const label = path.basename(file);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (error) {
    throw new InvalidModelError(label, `${file} cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(8);
    if (size < 8 || fs.readSync(fd, head, 0, 8, 0) !== 8) throw new InvalidModelError(label, `${label} is too short to be a safetensors file`);
    const headerLength = Number(head.readBigUInt64LE(0));
    if (headerLength > MAX_HEADER || 8 + headerLength > size) throw new InvalidModelError(label, `${label}: header length ${headerLength} does not fit the file (${size} bytes)`);
    const raw = Buffer.alloc(headerLength);
    fs.readSync(fd, raw, 0, headerLength, 8);
    let header: unknown;
    try {
      header = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new InvalidModelError(label, `${label}: the safetensors header is not JSON`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new InvalidModelError(label, `${label}: the safetensors header is not a JSON object`);
    const entries = new Map<string, SafetensorsEntry>();
    let metadata: Record<string, string> = {};
    const dataStart = 8 + headerLength;
    for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        metadata = (value ?? {}) as Record<string, string>;
        continue;
      }
      const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const kind = typeof v?.dtype === 'string' ? SAFETENSORS_DTYPES[v.dtype] : undefined;
      const shape = v?.shape;
      const offsets = v?.data_offsets;
      if (!kind) throw new InvalidModelError(label, `${label}: tensor ${name} has an unknown dtype ${String(v?.dtype)}`);
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new InvalidModelError(label, `${label}: tensor ${name} has no valid shape`);
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0) || offsets[1] < offsets[0]) {
        throw new InvalidModelError(label, `${label}: tensor ${name} has no valid data_offsets`);
      }
      const length = offsets[1] - offsets[0];
      const expected = elementCount(shape as number[]) * kind.bytes;
      if (length !== expected) throw new InvalidModelError(label, `${label}: tensor ${name} [${(shape as number[]).join(', ')}] ${v.dtype as string} needs ${expected} bytes, its offsets give ${length}`);
      if (dataStart + offsets[1] > size) throw new InvalidModelError(label, `${label}: tensor ${name} ends past the end of the file (truncated?)`);
      entries.set(name, { dtype: kind.dtype, shape: shape as number[], offset: dataStart + offsets[0], length });
    }
    return { entries, metadata };
  } finally {
    fs.closeSync(fd);
  }
}

/** One tensor's bytes, read by offset (never the whole file). */
export function readSafetensorsBytes(file: string, entry: SafetensorsEntry): Uint8Array {
  const out = Buffer.alloc(entry.length);
  const fd = fs.openSync(file, 'r');
  try {
    let done = 0;
    while (done < entry.length) {
      const n = fs.readSync(fd, out, done, entry.length - done, entry.offset + done);
      if (n === 0) throw new InvalidModelError(path.basename(file), `${path.basename(file)} ended while reading a tensor (truncated?)`);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** The float tensors of one or more .safetensors files (a diffusers folder may split them) as a WeightSource. */
export function safetensorsWeights(files: string | string[]): WeightSource {
  const list = Array.isArray(files) ? files : [files];
  const where = new Map<string, { file: string; entry: SafetensorsEntry }>();
  for (const file of list) {
    for (const [name, entry] of readSafetensorsHeader(file).entries) {
      if (entry.dtype === 'float32' || entry.dtype === 'float16' || entry.dtype === 'bfloat16') where.set(name, { file, entry });
    }
  }
  const label = list.map((f) => path.basename(f)).join(', ');
  return {
    label,
    names: () => [...where.keys()],
    info: (name) => {
      const hit = where.get(name);
      return hit ? { dtype: hit.entry.dtype as WeightDType, shape: hit.entry.shape } : undefined;
    },
    read: (name) => {
      const hit = where.get(name);
      if (!hit) throw new InvalidModelError(label, `${label} has no weight ${name}`);
      return readSafetensorsBytes(hit.file, hit.entry);
    },
  };
}

export function bytesPerElement(dtype: WeightDType): number {
  return BYTES[dtype];
}
