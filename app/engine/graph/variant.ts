import fs from 'node:fs';
import path from 'node:path';
import { buildClipTextEncoder } from './clip.js';
import { buildControlNet } from './controlnet.js';
import { readModelProto, writeGraphOnto, type BuiltGraph, type FloatType, type WeightIndex } from './core.js';
import type { FusedChoice } from './fused.js';
import { buildUnet } from './unet.js';
import { buildVaeDecoder, buildVaeEncoder } from './vae.js';
import type { WeightInfo, WeightSource } from './weights.js';

// A graph the builder wrote, built again for another compute type or provider over the very
// weight bytes it already has (docs/graph-builder.md, "Graphs per provider"): imports store
// float16 weights and compute in float32, which the CPU needs; a GPU provider runs the same
// network in float16 with its fused operators. Only the graph (a few hundred KB) is new.

/** What to build: the compute type and the fused operators (fused.ts). */
export interface GraphVariant {
  compute: FloatType;
  fused: FusedChoice;
}

/** A graph file the builder wrote, as read back: enough to build its network again. */
export interface BuiltGraphFile {
  /** `atelier.network` of its metadata: unet, controlnet, clip_text_model(_with_projection), vae_encoder, vae_decoder. */
  network: string;
  /** The network's diffusers config (config.json beside the graph, else the graph's metadata). */
  config: Record<string, unknown>;
  index: WeightIndex;
  /** The type it computes in: its weights' storage type, or what it casts them to. */
  compute: FloatType;
  inputs: Map<string, { elemType: number; dims: (number | string)[] }>;
  outputs: string[];
}

type Json = Record<string, unknown>;

/**
 * `file` read back as a graph the builder wrote (producer "atelier", `atelier.network` and
 * `atelier.config` in its metadata, `<file>.weights.json` beside it), or undefined for any
 * other graph (an Optimum export, a rewritten one).
 */
export function readBuiltGraph(file: string): BuiltGraphFile | undefined {
  const indexFile = `${file}.weights.json`;
  if (!fs.existsSync(indexFile)) return undefined;
  const proto = readModelProto(file);
  if (proto.producerName !== 'atelier') return undefined;
  const meta = new Map(((proto.metadataProps as Json[] | undefined) ?? []).map((p) => [String(p.key), String(p.value)]));
  const network = meta.get('atelier.network');
  const stored = meta.get('atelier.config');
  if (!network || !stored) return undefined;
  // config.json is the newer word where both exist: embeddings widen vocab_size there
  const configFile = path.join(path.dirname(file), 'config.json');
  const config = JSON.parse(fs.existsSync(configFile) ? fs.readFileSync(configFile, 'utf8') : stored) as Record<string, unknown>;
  const graph = (proto.graph ?? {}) as Json;
  const inputs = new Map<string, { elemType: number; dims: (number | string)[] }>();
  for (const v of (graph.input as Json[] | undefined) ?? []) {
    const tensor = ((v.type as Json | undefined)?.tensorType ?? {}) as Json;
    const dims = (((tensor.shape as Json | undefined)?.dim as Json[] | undefined) ?? []).map((d) => (d.dimParam !== undefined ? String(d.dimParam) : Number(d.dimValue)));
    inputs.set(String(v.name), { elemType: Number(tensor.elemType), dims });
  }
  const outputs = ((graph.output as Json[] | undefined) ?? []).map((v) => String(v.name));
  const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as WeightIndex;
  // a graph computing in another type than it stores casts its weights (GraphBuilder.weight)
  const weights = new Set(index.tensors.map((t) => t.initializer));
  const cast = ((graph.node as Json[] | undefined) ?? []).find((n) => n.opType === 'Cast' && weights.has(String((n.input as string[] | undefined)?.[0])));
  const to = Number(((cast?.attribute as Json[] | undefined) ?? []).find((a) => a.name === 'to')?.i);
  const compute: FloatType = cast ? (to === 10 ? 'float16' : 'float32') : index.storage;
  return { network, config, index, compute, inputs, outputs };
}

/** The weights' names, shapes and storage type from a weights.json: all a graph needs to be built (not written). */
class IndexedShapes implements WeightSource {
  readonly label: string;
  private readonly shapes = new Map<string, WeightInfo>();

  constructor(index: WeightIndex, label: string) {
    this.label = label;
    for (const t of index.tensors) this.shapes.set(t.weight, { dtype: index.storage, shape: t.shape });
  }

  names(): string[] {
    return [...this.shapes.keys()];
  }

  info(name: string): WeightInfo | undefined {
    return this.shapes.get(name);
  }

  read(name: string): Uint8Array {
    throw new Error(`${this.label}: ${name} is taken from the existing data file, not read`);
  }
}

/** The static size of a graph input's dimension `i`, if it has one. */
function staticDim(g: BuiltGraphFile, input: string, i: number): number | undefined {
  const d = g.inputs.get(input)?.dims[i];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

/** The network of `g` built again as `variant`, with the options its inputs and outputs show it was built with. */
export function rebuildGraph(g: BuiltGraphFile, variant: GraphVariant, label: string): BuiltGraph {
  const weights = new IndexedShapes(g.index, label);
  const fp = { dtype: g.index.storage, compute: variant.compute, fused: variant.fused };
  const textEmbedsDim = staticDim(g, 'text_embeds', 1);
  const projection = textEmbedsDim ? { textEmbedsDim } : {};
  switch (g.network) {
    case 'unet':
      return buildUnet(g.config, weights, { ...fp, ...projection, controlnetResiduals: g.inputs.has('down_block_0_additional_residual') });
    case 'controlnet':
      return buildControlNet(g.config, weights, { ...fp, ...projection });
    case 'clip_text_model':
    case 'clip_text_model_with_projection': {
      const states = g.outputs.filter((o) => o.startsWith('hidden_states.')).length;
      return buildClipTextEncoder(g.config, weights, {
        ...fp,
        idsType: g.inputs.get('input_ids')?.elemType === 6 ? 'int32' : 'int64',
        hiddenStates: states === 0 ? 'none' : states === 1 ? 'penultimate' : 'all',
      });
    }
    case 'vae_encoder':
      return buildVaeEncoder(g.config, weights, fp);
    case 'vae_decoder':
      return buildVaeDecoder(g.config, weights, fp);
    default:
      throw new Error(`${label}: the graph builder does not build "${g.network}"`);
  }
}

/** Writes `out`: the graph `file` holds, built as `variant` over `file`'s data file (`out` must lie in the same folder). */
export function writeGraphVariant(file: string, g: BuiltGraphFile, variant: GraphVariant, out: string): void {
  if (path.resolve(path.dirname(out)) !== path.resolve(path.dirname(file))) throw new Error(`${out}: a graph variant lies beside ${path.basename(file)}, whose data file it reads`);
  writeGraphOnto(rebuildGraph(g, variant, path.basename(path.dirname(file))), g.index, out);
}
