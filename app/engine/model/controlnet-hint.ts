import fs from 'node:fs';
import protobuf from 'protobufjs';
import { ONNX_PROTO } from '../graph/onnx-schema.js';

// A ControlNet's conditioning-image path, split off (docs/engine.md, "ControlNet"; numbers in
// docs/performance.md). A ControlNet first embeds controlnet_cond, the conditioning image at
// pixel size, through a stack of convolutions (diffusers' ControlNetConditioningEmbedding) that
// depends on nothing else: not on the latents, the timestep or the text. Run as one graph, it
// is recomputed on every step and for both halves of the CFG batch; on the starter model it is
// three quarters of the ControlNet's time. This cuts the graph in two: a *hint* graph (every
// node that depends on controlnet_cond and on constants only) whose results the pipeline
// computes once per run, and the *main* graph, which takes those results as inputs instead of
// controlnet_cond. The arithmetic is the same operators on the same values.

/** A decoded protobuf message: fields by camelCase name (int64 as Long objects). */
type Json = Record<string, unknown>;

const toNumber = (v: unknown): number => (typeof v === 'object' && v !== null && 'toNumber' in v ? (v as { toNumber(): number }).toNumber() : Number(v));

let modelType: protobuf.Type | undefined;
function onnxModel(): protobuf.Type {
  modelType ??= protobuf.parse(ONNX_PROTO, { keepCase: false }).root.lookupType('onnx.ModelProto');
  return modelType;
}

/** The two graphs, as ONNX bytes for sessions, and the names that join them. */
export interface HintSplit {
  /** controlnet_cond → `outputs` */
  hint: Uint8Array;
  /** the ControlNet with `outputs` as inputs in place of controlnet_cond */
  main: Uint8Array;
  outputs: string[];
}

/** Graphs larger than this are not split: decoding one costs a few times its size in memory. */
export const HINT_SPLIT_MAX_BYTES = 256 << 20;

const INT64 = 7;
const BOOL = 9;
/** Operators whose output has their first input's element type (the ones a conditioning embedding is made of, and shape plumbing). */
const SAME_TYPE = new Set([
  'Abs', 'Add', 'AveragePool', 'BatchNormalization', 'Clip', 'Concat', 'Conv', 'ConvTranspose', 'Div', 'Elu', 'Erf', 'Exp', 'Expand', 'Flatten', 'Gather', 'Gelu',
  'Gemm', 'GlobalAveragePool', 'GroupNormalization', 'HardSigmoid', 'HardSwish', 'Identity', 'InstanceNormalization', 'LayerNormalization', 'LeakyRelu', 'MatMul', 'Max',
  'MaxPool', 'Min', 'Mish', 'Mul', 'Neg', 'Pad', 'Pow', 'PRelu', 'QuickGelu', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceSum', 'Relu', 'Reshape', 'Resize', 'Selu', 'Sigmoid',
  'Slice', 'Softmax', 'Softplus', 'Split', 'Sqrt', 'Squeeze', 'Sub', 'Tanh', 'Tile', 'Transpose', 'Unsqueeze', 'Upsample',
]);
const INT64_OUT = new Set(['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero']);
const BOOL_OUT = new Set(['Equal', 'Greater', 'GreaterOrEqual', 'Less', 'LessOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);

/** The element type of each output of a node, from its inputs' types, or undefined when not known. */
function outputType(node: Json, inputTypes: (number | undefined)[]): number | undefined {
  const op = String(node.opType);
  const attr = (name: string) => ((node.attribute as Json[] | undefined) ?? []).find((a) => a.name === name);
  if (String(node.domain ?? '') !== '' && String(node.domain) !== 'ai.onnx' && !(String(node.domain) === 'com.microsoft' && SAME_TYPE.has(op))) return undefined;
  if (op === 'Cast') return toNumber(attr('to')?.i);
  if (op === 'Constant') {
    const t = attr('value')?.t as Json | undefined;
    return t ? toNumber(t.dataType) : undefined;
  }
  if (op === 'ConstantOfShape') {
    const t = attr('value')?.t as Json | undefined;
    return t ? toNumber(t.dataType) : 1;
  }
  if (INT64_OUT.has(op)) return INT64;
  if (BOOL_OUT.has(op)) return BOOL;
  if (op === 'Where') return inputTypes[1];
  if (SAME_TYPE.has(op)) return inputTypes[0];
  return undefined;
}

function valueInfo(name: string, elemType: number): Json {
  return { name, type: { tensorType: { elemType } } };
}

/**
 * Splits the ControlNet graph at `file` after its conditioning-image path (input `condName`), or
 * undefined where it cannot be split safely: external weights, subgraphs (If/Loop), an operator
 * whose result type is not known here, controlnet_cond read directly by a node that also reads
 * the latents or text, or nothing to split off.
 */
export function splitControlNetHint(file: string, condName: string): HintSplit | undefined {
  if (fs.statSync(file).size > HINT_SPLIT_MAX_BYTES) return undefined;
  const type = onnxModel();
  const model = type.decode(fs.readFileSync(file)) as unknown as Json;
  const graph = model.graph as Json | undefined;
  if (!graph) return undefined;
  const nodes = (graph.node as Json[] | undefined) ?? [];
  const initializers = (graph.initializer as Json[] | undefined) ?? [];
  const inputs = (graph.input as Json[] | undefined) ?? [];
  const condInfo = inputs.find((v) => v.name === condName);
  if (!condInfo) return undefined;
  if (initializers.some((t) => toNumber(t.dataLocation) === 1)) return undefined;
  const hasSubgraph = (n: Json) => ((n.attribute as Json[] | undefined) ?? []).some((a) => a.g || ((a.graphs as Json[] | undefined) ?? []).length > 0);
  if (nodes.some(hasSubgraph)) return undefined;

  // Every tensor is constant (initializers and what is computed from them alone), depends on
  // controlnet_cond and constants only ("hint"), or on another input ("main").
  const kind = new Map<string, 'const' | 'hint' | 'main'>();
  const types = new Map<string, number>();
  for (const t of initializers) {
    kind.set(String(t.name), 'const');
    types.set(String(t.name), toNumber(t.dataType));
  }
  for (const v of [...inputs, ...((graph.valueInfo as Json[] | undefined) ?? [])]) {
    const elem = ((v.type as Json | undefined)?.tensorType as Json | undefined)?.elemType;
    if (elem !== undefined) types.set(String(v.name), toNumber(elem));
  }
  for (const v of inputs) if (!kind.has(String(v.name))) kind.set(String(v.name), v.name === condName ? 'hint' : 'main');
  const nodeKind: ('const' | 'hint' | 'main')[] = [];
  for (const node of nodes) {
    const ins = ((node.input as string[] | undefined) ?? []).filter((n) => n !== '');
    const kinds = ins.map((n) => kind.get(n));
    // ONNX graphs are topologically sorted: an input not seen yet is a malformed graph.
    if (kinds.some((k) => k === undefined)) return undefined;
    const k = kinds.includes('main') ? 'main' : kinds.includes('hint') ? 'hint' : 'const';
    nodeKind.push(k);
    const outType = k === 'hint' ? outputType(node, ins.map((n) => types.get(n))) : undefined;
    for (const out of (node.output as string[] | undefined) ?? []) {
      kind.set(out, k);
      if (outType !== undefined && !types.has(out)) types.set(out, outType);
    }
  }
  const hintNodes = nodes.filter((_, i) => nodeKind[i] === 'hint');
  if (hintNodes.length === 0) return undefined;

  // The hint tensors the rest of the graph reads: the hint graph's outputs, the main graph's new inputs.
  const mainNodes = nodes.filter((_, i) => nodeKind[i] !== 'hint');
  const graphOutputs = ((graph.output as Json[] | undefined) ?? []).map((v) => String(v.name));
  const crossing = new Set<string>();
  for (const node of mainNodes) for (const n of (node.input as string[] | undefined) ?? []) if (kind.get(n) === 'hint') crossing.add(n);
  for (const n of graphOutputs) if (kind.get(n) === 'hint') crossing.add(n);
  if (crossing.has(condName)) return undefined;
  const outputs = [...crossing];
  if (outputs.length === 0 || outputs.some((n) => types.get(n) === undefined)) return undefined;

  // Each graph keeps the constant nodes and initializers it reads.
  const closure = (roots: Json[]): Json[] => {
    const needed = new Set<string>(roots.flatMap((n) => (n.input as string[] | undefined) ?? []));
    const keep: Json[] = [];
    for (let i = nodes.length - 1; i >= 0; i--) {
      const node = nodes[i]!;
      if (nodeKind[i] !== 'const' || !((node.output as string[] | undefined) ?? []).some((o) => needed.has(o))) continue;
      keep.push(node);
      for (const n of (node.input as string[] | undefined) ?? []) needed.add(n);
    }
    return keep.reverse();
  };
  const withConstants = (own: Json[]): Json[] => {
    const constants = new Set(closure(own));
    const mine = new Set(own);
    return nodes.filter((n) => mine.has(n) || constants.has(n));
  };
  const initializersFor = (list: Json[]): Json[] => {
    const read = new Set(list.flatMap((n) => (n.input as string[] | undefined) ?? []));
    return initializers.filter((t) => read.has(String(t.name)));
  };
  const hintAll = withConstants(hintNodes);
  const mainAll = withConstants(mainNodes);
  const mainInitializers = new Set(initializersFor(mainAll).map((t) => String(t.name)));
  const encode = (g: Json): Uint8Array => type.encode({ ...model, graph: g } as unknown as protobuf.Message).finish();
  const hint = encode({
    name: `${String(graph.name ?? 'controlnet')}_hint`,
    node: hintAll,
    initializer: initializersFor(hintAll),
    input: [condInfo],
    output: outputs.map((n) => valueInfo(n, types.get(n)!)),
  });
  const main = encode({
    ...graph,
    node: mainAll,
    initializer: initializersFor(mainAll),
    // (an older graph lists its initializers among its inputs: only the ones kept stay)
    input: [...inputs.filter((v) => v.name !== condName && (kind.get(String(v.name)) !== 'const' || mainInitializers.has(String(v.name)))), ...outputs.map((n) => valueInfo(n, types.get(n)!))],
    // value_info of the hint tensors now describes graph inputs, which carry their own
    valueInfo: ((graph.valueInfo as Json[] | undefined) ?? []).filter((v) => kind.get(String(v.name)) !== 'hint'),
  });
  return { hint, main, outputs };
}
