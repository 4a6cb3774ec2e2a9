import fs from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import { InvalidModelError } from '../model/errors.js';
import { fusedOps, type FusedChoice, type FusedOp } from './fused.js';
import { ONNX_PROTO } from './onnx-schema.js';
import { elementCount, fromFloat32Values, toFloat32Values, type WeightSource } from './weights.js';

// The op-emitting core of Atelier's graph builder (docs/graph-builder.md): a graph is a list
// of ONNX nodes over named values; weights are initializers whose bytes are read from the
// WeightSource only when the model is written, into one external-data file, so a graph of
// any size is written in one pass with one tensor in memory at a time.

export type ElemType = 'float32' | 'float16' | 'float64' | 'int64' | 'int32';
export type FloatType = 'float32' | 'float16';
const ELEM: Record<ElemType, number> = { float32: 1, float16: 10, float64: 11, int64: 7, int32: 6 };

/** ONNX opset this builder emits (LayerNormalization needs 17). */
export const OPSET = 17;
export const IR_VERSION = 8;

export type Attr = { i: number } | { f: number } | { s: string } | { ints: number[] } | { floats: number[] };
export const A = {
  i: (i: number): Attr => ({ i }),
  f: (f: number): Attr => ({ f }),
  s: (s: string): Attr => ({ s }),
  ints: (ints: number[]): Attr => ({ ints }),
  floats: (floats: number[]): Attr => ({ floats }),
};

export interface GraphOptions {
  /** Graph name, and the part named in errors ("unet"). */
  name: string;
  weights: WeightSource;
  /** Type of the stored weights and of the float inputs/outputs. */
  dtype: FloatType;
  /** Type the graph computes in (default: dtype). float16 storage + float32 compute runs fp16 files on CPUs. */
  compute?: FloatType;
  /** Fused com.microsoft operators to emit where the provider has them (fused.ts; default none: plain ONNX). */
  fused?: FusedChoice;
}

interface ExternalRef {
  initializer: string;
  weight: string;
  dims: number[];
  transpose: boolean;
}

type Dim = number | string;

interface ValueInfo {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: Array<{ dimValue: number } | { dimParam: string }> } } };
}

let root: protobuf.Root | undefined;
function onnxTypes(): { model: protobuf.Type } {
  root ??= protobuf.parse(ONNX_PROTO, { keepCase: false }).root;
  return { model: root.lookupType('onnx.ModelProto') };
}

function valueInfo(name: string, type: ElemType, dims: readonly Dim[]): ValueInfo {
  return { name, type: { tensorType: { elemType: ELEM[type], shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

export class GraphBuilder {
  readonly name: string;
  readonly dtype: FloatType;
  readonly compute: FloatType;
  readonly weights: WeightSource;
  private readonly fusedSet: ReadonlySet<FusedOp>;
  /** The provider the fused operators are for ('none', or 'custom' for an explicit set): some kernels take only some shapes. */
  readonly fusedTarget: string;
  private readonly nodes: object[] = [];
  private readonly inline: object[] = [];
  private readonly externals: ExternalRef[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly cache = new Map<string, string>();
  private readonly used = new Set<string>();
  /** Operator domains besides ONNX's own (e.g. com.microsoft for fused operators), each imported at version 1. */
  private readonly domains = new Set<string>();
  private counter = 0;

  constructor(opts: GraphOptions) {
    this.name = opts.name;
    this.dtype = opts.dtype;
    this.compute = opts.compute ?? opts.dtype;
    this.weights = opts.weights;
    this.fusedSet = fusedOps(opts.fused, this.compute);
    this.fusedTarget = typeof opts.fused === 'object' ? 'custom' : (opts.fused ?? 'none');
  }

  /** Whether this graph may emit the com.microsoft operator `op` (else the layer takes its plain ONNX form). */
  fuses(op: FusedOp): boolean {
    return this.fusedSet.has(op);
  }

  fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.used.has(name));
    this.used.add(name);
    return name;
  }

  error(message: string): InvalidModelError {
    return new InvalidModelError(this.name, `${this.name}: ${message}`);
  }

  /** A graph input; float inputs are cast to the compute type unless `toCompute` is false (timesteps stay float32). */
  input(name: string, type: ElemType, dims: readonly Dim[], toCompute = true): string {
    this.used.add(name);
    this.inputs.push(valueInfo(name, type, dims));
    if (toCompute && (type === 'float32' || type === 'float16') && type !== this.compute) return this.cast(name, this.compute);
    return name;
  }

  /** Names `value` as graph output `name` of `type` (cast if needed). */
  output(value: string, name: string, type: ElemType, dims: readonly Dim[]): void {
    const source = type !== this.compute && (type === 'float32' || type === 'float16') ? this.cast(value, type) : value;
    this.nodes.push({ opType: 'Identity', input: [source], output: [name], name: `out_${name}` });
    this.used.add(name);
    this.outputs.push(valueInfo(name, type, dims));
  }

  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, outputs = 1, domain?: string): string[] {
    const out = Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase()));
    const attribute = Object.entries(attrs).map(([name, a]) => {
      if ('i' in a) return { name, type: 2, i: a.i };
      if ('f' in a) return { name, type: 1, f: a.f };
      if ('s' in a) return { name, type: 3, s: Buffer.from(a.s, 'utf8') };
      if ('ints' in a) return { name, type: 7, ints: a.ints };
      return { name, type: 6, floats: a.floats };
    });
    if (domain) this.domains.add(domain);
    this.nodes.push({ opType, input: inputs, output: out, name: out[0], attribute, ...(domain ? { domain } : {}) });
    return out;
  }

  op1(opType: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.op(opType, inputs, attrs)[0]!;
  }

  cast(value: string, to: ElemType): string {
    return this.op1('Cast', [value], { to: A.i(ELEM[to]) });
  }

  hasWeight(name: string): boolean {
    return this.weights.info(name) !== undefined;
  }

  /** The shape stored for a weight (an error naming it when it is missing). */
  weightShape(name: string): readonly number[] {
    const info = this.weights.info(name);
    if (!info) throw this.error(`weight ${name} is missing from ${this.weights.label}`);
    return info.shape;
  }

  /**
   * A weight as a value of the compute type. `expect` checks its stored shape (−1: any);
   * `dims` gives the initializer another shape with the same element count; `transpose`
   * stores a 2-D [out, in] matrix as [in, out] for MatMul.
   */
  weight(name: string, opts: { expect?: readonly number[]; dims?: readonly number[]; transpose?: boolean } = {}): string {
    const key = `${name}|${opts.dims?.join(',') ?? ''}|${opts.transpose ? 't' : ''}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const shape = this.weightShape(name);
    const info = this.weights.info(name)!;
    if (opts.expect && (opts.expect.length !== shape.length || opts.expect.some((d, i) => d >= 0 && d !== shape[i]))) {
      throw this.error(`weight ${name} has shape [${shape.join(', ')}], expected [${opts.expect.map((d) => (d < 0 ? '?' : d)).join(', ')}]`);
    }
    let dims = opts.dims ? [...opts.dims] : [...shape];
    if (elementCount(dims) !== elementCount(shape)) throw this.error(`weight ${name} [${shape.join(', ')}] cannot be viewed as [${dims.join(', ')}]`);
    if (opts.transpose) {
      if (dims.length !== 2) throw this.error(`weight ${name} is not a matrix`);
      dims = [dims[1]!, dims[0]!];
    }
    if (info.dtype !== 'float32' && info.dtype !== 'float16' && info.dtype !== 'bfloat16') throw this.error(`weight ${name} is ${String(info.dtype)}, not a float tensor`);
    const initializer = opts.dims || opts.transpose ? this.fresh(name) : name;
    this.used.add(initializer);
    this.externals.push({ initializer, weight: name, dims, transpose: opts.transpose === true });
    const value = this.dtype === this.compute ? initializer : this.cast(initializer, this.compute);
    this.cache.set(key, value);
    return value;
  }

  /** A small constant stored inside the graph. */
  constant(values: ArrayLike<number>, dims: readonly number[], type: ElemType): string {
    const key = `c|${type}|${dims.join(',')}|${Array.from(values).join(',')}`;
    const hit = values.length <= 64 ? this.cache.get(key) : undefined;
    if (hit) return hit;
    const name = this.fresh('const');
    let raw: Uint8Array;
    if (type === 'int64') raw = new Uint8Array(BigInt64Array.from(Array.from(values), (v) => BigInt(v)).buffer);
    else if (type === 'int32') raw = new Uint8Array(Int32Array.from(values).buffer);
    else if (type === 'float64') raw = new Uint8Array(Float64Array.from(values).buffer);
    else raw = fromFloat32Values(Float32Array.from(values), type);
    this.inline.push({ name, dims: [...dims], dataType: ELEM[type], rawData: raw });
    if (values.length <= 64) this.cache.set(key, name);
    return name;
  }

  ints(values: number[]): string {
    return this.constant(values, [values.length], 'int64');
  }

  /** A scalar of the compute type. */
  scalar(value: number): string {
    return this.constant([value], [], this.compute);
  }

  /** The ModelProto and the weights it refers to, ready for writeModel. */
  finish(metadata: Record<string, string> = {}): BuiltGraph {
    return { name: this.name, graph: this, metadata, externals: [...this.externals], weights: this.weights, storage: this.dtype };
  }

  /** @internal used by writeModel */
  proto(externalData: Map<string, { offset: number; length: number }>, location: string, metadata: Record<string, string>): object {
    const initializer = [
      ...this.inline,
      ...this.externals.map((e) => {
        const at = externalData.get(e.initializer)!;
        return {
          name: e.initializer,
          dims: e.dims,
          dataType: ELEM[this.dtype],
          dataLocation: 1,
          externalData: [
            { key: 'location', value: location },
            { key: 'offset', value: String(at.offset) },
            { key: 'length', value: String(at.length) },
          ],
        };
      }),
    ];
    return {
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }, ...[...this.domains].map((domain) => ({ domain, version: 1 }))],
      producerName: 'atelier',
      producerVersion: '1',
      docString: 'Built by Atelier\'s graph builder (app/engine/graph) from a config and named weights',
      graph: { name: this.name, node: this.nodes, initializer, input: this.inputs, output: this.outputs },
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    };
  }
}

export interface BuiltGraph {
  name: string;
  graph: GraphBuilder;
  metadata: Record<string, string>;
  externals: ExternalRef[];
  weights: WeightSource;
  storage: FloatType;
}

/** [rows, cols] → [cols, rows] for elements of any width (bit patterns are moved, not converted). */
function transpose2d<T extends Float32Array | Uint16Array>(values: T, rows: number, cols: number): T {
  const out = new (values.constructor as new (n: number) => T)(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
}

/** One weight's bytes in the graph's storage type (and layout). */
function weightBytes(built: BuiltGraph, ref: ExternalRef): Uint8Array {
  const info = built.weights.info(ref.weight)!;
  const raw = built.weights.read(ref.weight);
  const [rows, cols] = [ref.dims[1]!, ref.dims[0]!];
  if (info.dtype === built.storage) {
    if (!ref.transpose) return raw;
    const bytes = raw.byteOffset % 4 === 0 ? raw : raw.slice();
    const view = info.dtype === 'float16' ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2) : new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const t = transpose2d(view, rows, cols);
    return new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
  }
  let values = toFloat32Values(raw, info.dtype);
  if (ref.transpose) values = transpose2d(values, rows, cols);
  return fromFloat32Values(values, built.storage);
}

export interface WrittenModel {
  file: string;
  dataFile: string;
  dataBytes: number;
}

/**
 * Writes `<dir>/model.onnx` and its weights to `<dir>/model.onnx_data` (ONNX external data:
 * offsets aligned to 4 KiB for tensors of a page or more so runtimes can map them; no 2 GB
 * protobuf limit since the graph itself holds no weights).
 */
export function writeModel(dir: string, built: BuiltGraph, fileName = 'model.onnx'): WrittenModel {
  fs.mkdirSync(dir, { recursive: true });
  const dataName = `${fileName}_data`;
  const dataFile = path.join(dir, dataName);
  const at = new Map<string, { offset: number; length: number }>();
  const fd = fs.openSync(dataFile, 'w');
  let offset = 0;
  try {
    for (const ref of built.externals) {
      const bytes = weightBytes(built, ref);
      const align = bytes.byteLength >= 4096 ? 4096 : 16;
      const padded = Math.ceil(offset / align) * align;
      if (padded > offset) fs.writeSync(fd, Buffer.alloc(padded - offset));
      offset = padded;
      let done = 0;
      while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done);
      at.set(ref.initializer, { offset, length: bytes.byteLength });
      offset += bytes.byteLength;
    }
  } catch (error) {
    // a weight that cannot be read leaves no half-written data file behind
    fs.closeSync(fd);
    fs.rmSync(dataFile, { force: true });
    throw error;
  }
  fs.closeSync(fd);
  const { model } = onnxTypes();
  const message = model.fromObject(built.graph.proto(at, dataName, built.metadata));
  const file = path.join(dir, fileName);
  fs.writeFileSync(file, model.encode(message).finish());
  // Where each named weight lies in the data file and how it is stored, so that LoRAs can be
  // applied to a built folder by patching those bytes (app/engine/checkpoint/lora-apply.ts).
  const index: WeightIndex = {
    data: dataName,
    storage: built.storage,
    tensors: built.externals.map((ref) => ({ weight: ref.weight, shape: [...built.weights.info(ref.weight)!.shape], initializer: ref.initializer, dims: ref.dims, transpose: ref.transpose, ...at.get(ref.initializer)! })),
  };
  fs.writeFileSync(path.join(dir, `${fileName}.weights.json`), JSON.stringify(index));
  return { file, dataFile, dataBytes: offset };
}

/**
 * Writes only the graph of `built` to `file`, its weights taken from bytes a model written
 * before holds (`index`, that model's weights.json; `file` goes beside its data file): the
 * same network built again for another compute type or provider (variant.ts). Every weight
 * the new graph takes must lie in the data file in the layout it takes it (a transposed
 * matrix transposed the same way; any view of an untransposed one).
 */
export function writeGraphOnto(built: BuiltGraph, index: WeightIndex, file: string): void {
  if (built.storage !== index.storage) throw built.graph.error(`the graph stores ${built.storage} weights, the data file ${index.storage}`);
  // A weight viewed in another shape has the same bytes; a transposed one, those of its transposed view.
  const key = (t: { weight: string; dims: readonly number[]; transpose: boolean }) => (t.transpose ? `${t.weight}|t|${t.dims.join(',')}` : `${t.weight}|n`);
  const stored = new Map(index.tensors.map((t) => [key(t), t]));
  const at = new Map<string, { offset: number; length: number }>();
  for (const ref of built.externals) {
    const t = stored.get(key(ref));
    if (!t) throw built.graph.error(`weight ${ref.weight} [${ref.dims.join(', ')}]${ref.transpose ? ' transposed' : ''} is not in ${index.data}`);
    at.set(ref.initializer, { offset: t.offset, length: t.length });
  }
  const { model } = onnxTypes();
  fs.writeFileSync(file, model.encode(model.fromObject(built.graph.proto(at, index.data, built.metadata))).finish());
}

/** `<model>.onnx.weights.json`: each initializer's source weight, stored shape and byte range. */
export interface WeightIndex {
  data: string;
  storage: FloatType;
  /** `shape`: the weight's own shape; `dims`: as stored (transposed or viewed). */
  tensors: { weight: string; shape: number[]; initializer: string; dims: number[]; transpose: boolean; offset: number; length: number }[];
}

/** Decodes a model file written by writeModel (tests and tools: node list, initializers). */
export function readModelProto(file: string): Record<string, unknown> {
  const { model } = onnxTypes();
  return model.toObject(model.decode(fs.readFileSync(file)), { longs: Number, enums: Number, bytes: Array, defaults: false }) as Record<string, unknown>;
}
