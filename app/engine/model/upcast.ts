import fs from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import { ONNX_PROTO } from '../graph/onnx-schema.js';
import { InvalidModelError } from './errors.js';
import { float16ToFloat32 } from './float16.js';

// diffusers' force_upcast for ONNX graphs (docs/engine.md, "SDXL"): SDXL's VAE overflows in
// float16 (activations past 65504 become inf, the image NaN/black), so diffusers runs the VAE
// in float32 when its config says force_upcast. An ONNX graph cannot be cast as a torch module
// can; this rewrites the graph's float16 into float32 instead: initializers and constant
// tensors widened, Cast-to-float16 made Cast-to-float32, float16 inputs/outputs/value_info
// declared float32. The result is the same network at float32 precision.

const FLOAT = 1;
const FLOAT16 = 10;

/** A decoded protobuf message: fields by camelCase name (int64 as Long objects). */
type Json = Record<string, unknown>;

const toNumber = (v: unknown): number => (typeof v === 'object' && v !== null && 'toNumber' in v ? (v as { toNumber(): number }).toNumber() : Number(v));

let modelType: protobuf.Type | undefined;
function onnxModel(): protobuf.Type {
  modelType ??= protobuf.parse(ONNX_PROTO, { keepCase: false }).root.lookupType('onnx.ModelProto');
  return modelType;
}

function widenTensor(t: Json, dir: string, part: string): void {
  // External data (weights beside the graph) is read in, so the rewritten graph stands alone.
  if (toNumber(t.dataLocation) === 1) {
    const entries = new Map(((t.externalData as Json[] | undefined) ?? []).map((e) => [String(e.key), String(e.value)]));
    const location = entries.get('location');
    if (!location) throw new InvalidModelError(part, `${part}: external tensor ${String(t.name)} has no location`);
    const file = path.resolve(dir, location);
    if (path.relative(dir, file).startsWith('..')) throw new InvalidModelError(part, `${part}: external tensor ${String(t.name)} points outside its folder`);
    const offset = Number(entries.get('offset') ?? 0);
    if (!fs.existsSync(file)) throw new InvalidModelError(part, `${part}: external weights ${location} are missing`);
    const fd = fs.openSync(file, 'r');
    try {
      const length = entries.has('length') ? Number(entries.get('length')) : fs.fstatSync(fd).size - offset;
      const bytes = Buffer.alloc(length);
      fs.readSync(fd, bytes, 0, length, offset);
      t.rawData = bytes;
    } finally {
      fs.closeSync(fd);
    }
    delete t.dataLocation;
    t.externalData = [];
  }
  if (toNumber(t.dataType) !== FLOAT16) return;
  let bits: Uint16Array;
  const raw = t.rawData as Uint8Array | undefined;
  if (raw && raw.length > 0) {
    bits = new Uint16Array(raw.length / 2);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < bits.length; i++) bits[i] = view.getUint16(i * 2, true);
  } else {
    // float16 values may also sit in int32_data, one per entry (onnx.proto).
    bits = Uint16Array.from((t.int32Data as number[] | undefined) ?? []);
  }
  const wide = float16ToFloat32(bits);
  t.dataType = FLOAT;
  t.rawData = new Uint8Array(wide.buffer, wide.byteOffset, wide.byteLength);
  t.int32Data = [];
}

function widenValueInfo(v: Json): void {
  const tensor = (v.type as Json | undefined)?.tensorType as Json | undefined;
  if (tensor && toNumber(tensor.elemType) === FLOAT16) tensor.elemType = FLOAT;
}

function widenGraph(g: Json, dir: string, part: string): void {
  for (const t of (g.initializer as Json[] | undefined) ?? []) widenTensor(t, dir, part);
  for (const key of ['input', 'output', 'valueInfo']) for (const v of (g[key] as Json[] | undefined) ?? []) widenValueInfo(v);
  for (const node of (g.node as Json[] | undefined) ?? []) {
    for (const a of (node.attribute as Json[] | undefined) ?? []) {
      if ((node.opType === 'Cast' && a.name === 'to') || (node.opType === 'CastLike' && a.name === 'to')) {
        if (toNumber(a.i) === FLOAT16) a.i = FLOAT;
      }
      if (a.t) widenTensor(a.t as Json, dir, part);
      for (const t of (a.tensors as Json[] | undefined) ?? []) widenTensor(t, dir, part);
      if (a.g) widenGraph(a.g as Json, dir, part);
      for (const sub of (a.graphs as Json[] | undefined) ?? []) widenGraph(sub, dir, part);
    }
  }
}

/** The graph at `file` with every float16 made float32, as ONNX bytes for a session. */
export function upcastFloat16Graph(file: string, part: string): Uint8Array {
  const type = onnxModel();
  let model: Json;
  try {
    model = type.decode(fs.readFileSync(file)) as unknown as Json;
  } catch (error) {
    throw new InvalidModelError(part, `${part} cannot be read for float32 decoding: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!model.graph) throw new InvalidModelError(part, `${part} has no graph`);
  // The decoded message is edited in place: unknown fields the schema leaves out are dropped,
  // which the graphs a VAE export writes do not use (no functions, sparse or training data).
  widenGraph(model.graph as Json, path.dirname(file), part);
  return type.encode(model as unknown as protobuf.Message).finish();
}
