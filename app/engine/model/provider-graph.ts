import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fusedFor } from '../graph/fused.js';
import { readBuiltGraph, writeGraphVariant, type BuiltGraphFile, type GraphVariant } from '../graph/variant.js';

// The graph a provider runs for a model folder the graph builder wrote (docs/engine.md,
// "Graphs per provider"). Imports store float16 weights and compute in float32: what the CPU
// needs (its kernels are float32). A GPU provider gets the same network built again to compute
// in float16 with the fused operators it has (graph/variant.ts), over the same weight file: a
// hidden graph file beside the stored one, named by what it was built from, written once.

/** Bumped when the builder's output for the same inputs changes, so older variants are rebuilt. */
const VARIANT_VERSION = 1;

/**
 * What `ep` runs in place of a built graph, or undefined for the graph as stored: the CPU's is
 * the stored float32-compute one; float32-stored weights were asked for by the import (their
 * precision is kept); a graph that computes in float16 already was built so on purpose (an
 * import given `compute: 'float16'`, the GPU bench's graphs) and runs with the operators it has;
 * a VAE whose config says force_upcast overflows in float16 (SDXL's).
 */
export function variantFor(ep: string, g: Pick<BuiltGraphFile, 'network' | 'config' | 'index' | 'compute'>): GraphVariant | undefined {
  if (ep === 'cpu') return undefined;
  if (g.index.storage !== 'float16' || g.compute === 'float16') return undefined;
  if (g.network.startsWith('vae_') && g.config.force_upcast === true) return undefined;
  return { compute: 'float16', fused: fusedFor(ep) };
}

export interface ProviderGraph {
  /** The graph file to open: a variant beside `file`, or `file` itself. */
  file: string;
  /** "float16" when a variant is used. */
  compute?: 'float16';
  /** Why the stored graph is used although a variant was wanted (a read-only folder, a failed build). */
  note?: string;
}

/**
 * What a variant is built from: the stored graph, its weight index and config (everything
 * variantFor and the build read) and the provider (which settles the variant), with the
 * builder's version.
 */
function fingerprint(file: string, ep: string): string {
  const h = createHash('sha256');
  h.update(`${VARIANT_VERSION}\0${ep}\0`);
  h.update(fs.readFileSync(file));
  h.update(fs.readFileSync(`${file}.weights.json`));
  const config = path.join(path.dirname(file), 'config.json');
  if (fs.existsSync(config)) h.update(fs.readFileSync(config));
  return h.digest('hex').slice(0, 16);
}

/**
 * The graph to open for `file` on `ep`. A variant already written for the same graph, weights
 * index, config and provider is reused without reading the graph; one for an older version of
 * them is replaced. A folder that cannot be written, or a graph the builder cannot build again,
 * runs as stored.
 */
export function providerGraph(file: string, ep: string): ProviderGraph {
  if (ep === 'cpu' || !fs.existsSync(`${file}.weights.json`)) return { file };
  const dir = path.dirname(file);
  const prefix = `.${path.basename(file)}.${ep}-f16-`;
  const out = path.join(dir, `${prefix}${fingerprint(file, ep)}.onnx`);
  if (fs.existsSync(out)) return { file: out, compute: 'float16' };
  let built: BuiltGraphFile | undefined;
  try {
    built = readBuiltGraph(file);
  } catch (error) {
    return { file, note: `not read as a built graph: ${error instanceof Error ? error.message : String(error)}` };
  }
  const variant = built && variantFor(ep, built);
  if (!built || !variant) return { file };
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    writeGraphVariant(file, built, variant, tmp);
    fs.renameSync(tmp, out);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    return { file, note: `float16 graph for ${ep} not written: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}` };
  }
  for (const name of fs.readdirSync(dir)) {
    if (!name.startsWith(prefix) || !name.endsWith('.onnx') || path.join(dir, name) === out) continue;
    try {
      fs.rmSync(path.join(dir, name), { force: true });
    } catch {
      // still open elsewhere (Windows): the next build removes it
    }
  }
  return { file: out, compute: 'float16' };
}
