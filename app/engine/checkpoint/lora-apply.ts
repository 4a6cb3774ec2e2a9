import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InvalidModelError } from '../model/errors.js';
import type { WeightIndex } from '../graph/core.js';
import { fromFloat32Values, toFloat32Values } from '../graph/weights.js';
import { loraDeltas, readLora, type LoraNetwork, type ModelWeights } from './lora.js';

// LoRAs applied to a model folder the graph builder wrote (docs/models.md): the folder is
// never changed. A patched copy — the affected parts' weight files copied (copy-on-write where
// the file system can) with the changed tensors rewritten in place, every other part linked —
// is written under a cache folder named by the base folder and the LoRA set with its
// strengths, and reused while that set is active.

export interface LoraUse {
  file: string;
  /** Strength: the delta's multiplier (A1111's <lora:NAME:WEIGHT>). */
  weight: number;
  /** The file's sha256 when the caller has it (part of the cache key; else size and mtime are). */
  sha256?: string;
}

export interface PatchedModel {
  dir: string;
  /** Reused from the cache rather than written now. */
  cached: boolean;
  /** Per LoRA file: modules that matched nothing in this model. */
  unmatched: Record<string, string[]>;
  patchedWeights: number;
}

const NETWORKS: LoraNetwork[] = ['unet', 'text_encoder', 'text_encoder_2'];
const COMPLETE = '.complete';

function readIndex(base: string, net: LoraNetwork): WeightIndex {
  const file = path.join(base, net, 'model.onnx.weights.json');
  if (!fs.existsSync(file)) {
    throw new InvalidModelError(`${net}/model.onnx`, `LoRAs apply to models Atelier built (atelier models import); ${path.basename(base)}/${net} has no model.onnx.weights.json`);
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')) as WeightIndex;
}

/** The networks a folder has: the UNet always; text_encoder (not in SDXL's refiner) and text_encoder_2 (SDXL) when present. */
function networksOf(base: string): LoraNetwork[] {
  return NETWORKS.filter((net) => net === 'unet' || fs.existsSync(path.join(base, net)));
}

function cacheKey(base: string, loras: LoraUse[]): string {
  const h = crypto.createHash('sha256');
  h.update(fs.realpathSync(base));
  for (const net of networksOf(base)) {
    const s = fs.statSync(path.join(base, net, 'model.onnx_data'));
    h.update(`|${net}:${s.size}:${s.mtimeMs}`);
  }
  for (const l of loras) {
    const s = fs.statSync(l.file);
    h.update(`|${l.sha256 ?? `${fs.realpathSync(l.file)}:${s.size}:${s.mtimeMs}`}@${l.weight}`);
  }
  return h.digest('hex').slice(0, 24);
}

/** Links a part of the base folder into the patched one (a copy where links are refused). */
function link(from: string, to: string): void {
  try {
    fs.symlinkSync(from, to, fs.statSync(from).isDirectory() ? 'junction' : 'file');
  } catch {
    fs.cpSync(from, to, { recursive: true });
  }
}

/**
 * Asynchronous so that the service stays responsive: the large copy runs on libuv's thread
 * pool and the event loop gets a turn after every changed tensor.
 */
export async function applyLoras(base: string, loras: LoraUse[], cacheRoot: string): Promise<PatchedModel> {
  const abs = path.resolve(base);
  const nets = networksOf(abs);
  const index = Object.fromEntries(nets.map((net) => [net, readIndex(abs, net)])) as Partial<Record<LoraNetwork, WeightIndex>>;
  const model: ModelWeights = { unet: new Map() };
  for (const net of nets) {
    const shapes = new Map<string, readonly number[]>();
    for (const t of index[net]!.tensors) shapes.set(t.weight, t.shape);
    model[net] = shapes;
  }
  // Every file is read and matched before anything is written.
  const plans = loras.map((use) => {
    const lora = readLora(use.file);
    return { use, lora, ...loraDeltas(lora, model) };
  });
  const dir = path.join(cacheRoot, cacheKey(abs, loras));
  const unmatched = Object.fromEntries(plans.filter((p) => p.unmatched.length).map((p) => [p.lora.label, p.unmatched]));
  if (fs.existsSync(path.join(dir, COMPLETE))) return { dir, cached: true, unmatched, patchedWeights: 0 };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(cacheRoot, { recursive: true });
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  let patchedWeights = 0;
  try {
    const touched = new Set(plans.flatMap((p) => p.deltas.map((d) => d.network)));
    for (const entry of fs.readdirSync(abs)) {
      const from = path.join(abs, entry);
      if (!touched.has(entry as LoraNetwork)) {
        if (fs.statSync(from).isDirectory()) link(from, path.join(tmp, entry));
        else fs.copyFileSync(from, path.join(tmp, entry));
        continue;
      }
      fs.mkdirSync(path.join(tmp, entry));
      for (const f of fs.readdirSync(from)) {
        // copied, not linked: ONNX Runtime finds model.onnx_data beside the path it opens
        await fs.promises.copyFile(path.join(from, f), path.join(tmp, entry, f), f === 'model.onnx_data' ? fs.constants.COPYFILE_FICLONE : 0);
      }
    }
    for (const net of nets) {
      const deltas = plans.flatMap((p) => p.deltas.filter((d) => d.network === net).map((d) => ({ d, strength: p.use.weight })));
      if (!deltas.length) continue;
      const idx = index[net]!;
      const fd = fs.openSync(path.join(tmp, net, idx.data), 'r+');
      try {
        for (const { d, strength } of deltas) {
          const delta = d.values();
          for (const t of idx.tensors.filter((x) => x.weight === d.weight)) {
            const buf = Buffer.alloc(t.length);
            fs.readSync(fd, buf, 0, t.length, t.offset);
            const stored = toFloat32Values(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), idx.storage);
            if (t.transpose) {
              // stored [in, out] for MatMul: element (r, c) of the [out, in] weight sits at c·out + r
              const [rows, cols] = [t.shape[0]!, t.shape[1]!];
              for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) stored[c * rows + r]! += strength * delta[r * cols + c]!;
            } else {
              for (let i = 0; i < stored.length; i++) stored[i]! += strength * delta[i]!;
            }
            const bytes = fromFloat32Values(stored, idx.storage);
            fs.writeSync(fd, bytes, 0, bytes.byteLength, t.offset);
            patchedWeights++;
          }
          await new Promise((r) => setImmediate(r));
        }
      } finally {
        fs.closeSync(fd);
      }
    }
    fs.writeFileSync(path.join(tmp, COMPLETE), JSON.stringify({ base: abs, loras: loras.map((l) => ({ file: l.file, weight: l.weight, sha256: l.sha256 })) }));
    fs.renameSync(tmp, dir);
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  return { dir, cached: false, unmatched, patchedWeights };
}
