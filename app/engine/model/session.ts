import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { DeviceChoice } from '../../contract/index.js';
import { DeviceUnavailableError, InvalidModelError } from './errors.js';
import { float16ToFloat32, float32ToFloat16 } from './float16.js';
import { providerGraph, type ProviderGraph } from './provider-graph.js';

export type Session = ort.InferenceSession;
export type ValueMetadata = ort.InferenceSession.ValueMetadata;
export type TensorMetadata = ort.InferenceSession.TensorValueMetadata;

/** The order `auto` tries: the fastest that is likely present first, the CPU always last. */
export const AUTO_ORDER = ['cuda', 'dml', 'coreml', 'webgpu', 'cpu'] as const;

/**
 * Why `auto` should not even try a provider on this machine, or undefined to try it. Trying
 * CUDA without its libraries makes ORT print a long native error; Windows/macOS-only
 * providers cannot exist elsewhere.
 */
function skipReason(ep: string): string | undefined {
  if (ep === 'dml' && process.platform !== 'win32') return 'DirectML is Windows-only';
  if (ep === 'coreml' && process.platform !== 'darwin') return 'Core ML is macOS-only';
  if (ep === 'cuda') {
    if (process.platform === 'darwin') return 'no CUDA on macOS';
    try {
      const binding = createRequire(import.meta.url).resolve(`onnxruntime-node/bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node`);
      const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
      if (!fs.existsSync(path.join(path.dirname(binding), lib))) return 'CUDA provider libraries are not installed (see README: GPU acceleration)';
    } catch {
      return 'onnxruntime-node binding not found';
    }
  }
  if (ep === 'webgpu' && process.platform === 'linux' && !hasVulkanLoader()) {
    // Dawn would print "Couldn't load Vulkan" to stderr from native code before failing.
    return 'no Vulkan loader (libvulkan.so.1) on this machine';
  }
  if (ep === 'webgpu' && process.platform === 'linux' && !hasGpuDevice()) {
    // Mesa's lavapipe (a software Vulkan device) would serve WebGPU on the CPU, slower than the
    // CPU provider; `--device webgpu` still uses it (the WebGPU tests run on it).
    return 'no GPU device (/dev/dri/renderD*, /dev/nvidia0 or /dev/dxg): only a software Vulkan adapter could serve';
  }
  return undefined;
}

/** Whether Linux shows a GPU to user space: a DRM render node (Mesa, AMD, Intel), NVIDIA's device, or WSL's. */
export function hasGpuDevice(dev = '/dev'): boolean {
  if (fs.existsSync(path.join(dev, 'nvidia0')) || fs.existsSync(path.join(dev, 'dxg'))) return true;
  try {
    return fs.readdirSync(path.join(dev, 'dri')).some((n) => n.startsWith('renderD'));
  } catch {
    return false;
  }
}

let vulkanLoader: boolean | undefined;

/**
 * Whether a Vulkan loader is where the dynamic linker looks for it. WebGPU on Linux runs on
 * Vulkan through Dawn; without the loader it cannot start. Checked once per process.
 */
export function hasVulkanLoader(env: NodeJS.ProcessEnv = process.env): boolean {
  if (vulkanLoader !== undefined && env === process.env) return vulkanLoader;
  const dirs = [
    ...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/lib/x86_64-linux-gnu',
    '/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/lib64',
    '/usr/lib',
    '/usr/local/lib',
  ];
  const found = dirs.some((dir) => fs.existsSync(path.join(dir, 'libvulkan.so.1')));
  if (env === process.env) vulkanLoader = found;
  return found;
}

export interface OpenedSession {
  session: Session;
  device: string;
  /** The graph file the session runs: `file`, or a variant built for the provider (provider-graph.ts). */
  graph: ProviderGraph;
}

/**
 * How sessions are set up for speed (docs/engine.md, "Session set-up"). `cacheDir`: where
 * optimised graphs are kept (ORT's optimizedModelFilePath), so that the second load of a graph
 * on a provider skips graph optimisation; `freeDimensions`: symbolic dimension → size (ORT's
 * freeDimensionOverrides) for callers that run one shape only — the session then fixes that
 * shape, and other shapes fail.
 */
export interface SessionTuning {
  cacheDir?: string;
  freeDimensions?: Readonly<Record<string, number>>;
  /** Leave every output on the device (WebGPU only; ignored elsewhere): for a session whose outputs feed another session, not JavaScript. */
  deviceOutputs?: boolean;
}

let defaultTuning: SessionTuning = process.env.ATELIER_ORT_CACHE ? { cacheDir: process.env.ATELIER_ORT_CACHE } : {};

/** The tuning every later openSession uses unless it is given its own (the service sets its cache folder here). */
export function configureSessions(tuning: SessionTuning): void {
  defaultTuning = { ...tuning };
}

/** The tuning openSession uses now (to change one setting and keep the rest). */
export function sessionTuning(): SessionTuning {
  return { ...defaultTuning };
}

/** Symbolic dimension sizes for a UNet (and ControlNet) built by app/engine/graph at one batch and latent size (docs/graph-builder.md names them). */
export function builderUnetDimensions(shape: { batch: number; latentHeight: number; latentWidth: number; sequence: number }): Record<string, number> {
  return { batch: shape.batch, height: shape.latentHeight, width: shape.latentWidth, sequence: shape.sequence };
}

const GRAPH_HASH_LIMIT = 64 << 20;
const ORT_VERSION = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;

/**
 * The optimised-graph cache key: the graph file's bytes (up to 64 MiB; of a bigger one its first
 * and last MiB, size and modification time), name, size and modification time of
 * each weight file beside it (LoRAs patch model.onnx_data in place, docs/models.md — hashing
 * gigabytes on every load would cost more than the optimisation saved), the provider, the ORT
 * version and, on the CPU, the processor (its NCHWc layouts are hardware-specific), and the
 * fixed dimensions. Hex, 32 characters.
 */
export function optimizedCacheKey(file: string, device: string, freeDimensions: Readonly<Record<string, number>> = {}): string {
  const h = createHash('sha256');
  const size = fs.statSync(file).size;
  if (size <= GRAPH_HASH_LIMIT) h.update(fs.readFileSync(file));
  else {
    // a graph with its weights inside (an Optimum export): its ends and its stamp, not a gigabyte read per load
    const fd = fs.openSync(file, 'r');
    const part = Buffer.alloc(1 << 20);
    try {
      h.update(part.subarray(0, fs.readSync(fd, part, 0, part.length, 0)));
      h.update(part.subarray(0, fs.readSync(fd, part, 0, part.length, size - part.length)));
    } finally {
      fs.closeSync(fd);
    }
    h.update(`\0${size}\0${fs.statSync(file).mtimeMs}`);
  }
  const dir = path.dirname(file);
  const weights = fs.readdirSync(dir).filter((n) => n !== path.basename(file) && /(\.onnx_data|\.onnx\.data|\.data|\.pb|\.bin)$/.test(n)).sort();
  for (const name of weights) {
    const st = fs.statSync(path.join(dir, name));
    h.update(`\0${name}\0${st.size}\0${st.mtimeMs}`);
  }
  const dims = Object.keys(freeDimensions).sort().map((k) => `${k}=${freeDimensions[k]}`);
  const hardware = device === 'cpu' ? `${os.arch()} ${os.cpus()[0]?.model ?? ''}` : '';
  h.update(`\0${device}\0${ORT_VERSION}\0${hardware}\0${dims.join(',')}`);
  return h.digest('hex').slice(0, 32);
}

/**
 * Session config entries every session gets. `force_spinning_stop`: ORT's intra-op threads
 * busy-wait for work after each operator, and by default keep doing so after Run returns. A
 * ControlNet and its UNet are two sessions, each with its own pool, run one after the other
 * every step: the ControlNet's spinning threads then steal the cores the UNet's threads need
 * (on 2 cores a ControlNet + UNet step took 98 ms against 40 + 17 ms for the two alone;
 * docs/performance.md). Stopping the spin when Run returns keeps the spin within a run.
 */
const SESSION_CONFIG: Readonly<Record<string, string>> = { force_spinning_stop: '1' };

/**
 * Intra-op threads and spinning for every later session; unset: ORT's defaults (a thread per
 * core, spinning within a run). `bench:engine --threads 1 --no-spin` measures single-thread
 * work with them, a number that holds on a shared machine (docs/performance.md).
 */
export interface ThreadTuning {
  intraOp?: number;
  spinning?: boolean;
}
let threadTuning: ThreadTuning = {};

export function configureThreads(tuning: ThreadTuning): void {
  threadTuning = { ...tuning };
}

/**
 * Whether sessions on `device` may leave outputs on it for the next session to take
 * (docs/engine.md, "Tensors on the device"): WebGPU only. The CPU keeps plain tensors.
 */
export function keepsTensorsOnDevice(device: string): boolean {
  return device === 'webgpu';
}

function sessionOptions(device: string, optimize = true, freeDimensions?: Readonly<Record<string, number>>, config: Readonly<Record<string, string>> = {}, deviceOutputs = false): ort.InferenceSession.SessionOptions {
  // logSeverityLevel 3: ORT's own error lines for a provider that fails to start would
  // otherwise land on stderr before we can explain the fallback ourselves. Metadata-only
  // opens (inspect) skip graph optimization, which is most of a big graph's load time.
  return {
    executionProviders: [device],
    graphOptimizationLevel: optimize ? 'all' : 'disabled',
    logSeverityLevel: 3,
    extra: { session: { ...SESSION_CONFIG, ...(threadTuning.spinning === false ? { 'intra_op.allow_spinning': '0' } : {}), ...config } },
    ...(threadTuning.intraOp ? { intraOpNumThreads: threadTuning.intraOp } : {}),
    ...(freeDimensions && Object.keys(freeDimensions).length > 0 ? { freeDimensionOverrides: { ...freeDimensions } } : {}),
    ...(deviceOutputs && keepsTensorsOnDevice(device) ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
  };
}

/**
 * A session on `ep`, through the optimised-graph cache when `tuning.cacheDir` is set: a cached
 * graph loads with optimisation off (it is already optimised for this provider and shapes); a
 * missing one is written by ORT while the session is created, under a temporary name renamed
 * once the session exists, with its weights in `<key>.<pid>.data`. A cached graph that no longer
 * loads is removed and rebuilt; a provider that cannot serialise its graph just runs uncached.
 */
async function createSession(file: string, ep: string, optimize: boolean, tuning: SessionTuning): Promise<Session> {
  const dims = tuning.freeDimensions;
  const out = tuning.deviceOutputs ?? false;
  if (!optimize || !tuning.cacheDir) return ort.InferenceSession.create(file, sessionOptions(ep, optimize, dims, {}, out));
  const key = optimizedCacheKey(file, ep, dims);
  const cached = path.join(tuning.cacheDir, `${key}.onnx`);
  if (fs.existsSync(cached)) {
    try {
      const session = await ort.InferenceSession.create(cached, sessionOptions(ep, false, dims, {}, out));
      // last use, for pruning least recently used entries first (ort-cache.ts)
      const now = new Date();
      try {
        fs.utimesSync(cached, now, now);
      } catch {
        // a read-only cache still serves; it just cannot record its use
      }
      return session;
    } catch {
      removeCached(tuning.cacheDir, key);
    }
  }
  fs.mkdirSync(tuning.cacheDir, { recursive: true });
  const pending = path.join(tuning.cacheDir, `${key}.${process.pid}.tmp.onnx`);
  const options: ort.InferenceSession.SessionOptions = {
    // weights beside the optimised graph, not inside it: a full-size UNet is over protobuf's 2 GB
    // (named per process, so that two processes filling the cache never write one file)
    ...sessionOptions(ep, true, dims, { optimized_model_external_initializers_file_name: `${key}.${process.pid}.data`, optimized_model_external_initializers_min_size_in_bytes: '1024' }, out),
    optimizedModelFilePath: pending,
  };
  let session: Session;
  try {
    session = await ort.InferenceSession.create(file, options);
  } catch (error) {
    for (const f of [pending, path.join(tuning.cacheDir, `${key}.${process.pid}.data`)]) fs.rmSync(f, { force: true });
    // the graph itself may be fine: only the serialisation may have failed
    try {
      return await ort.InferenceSession.create(file, sessionOptions(ep, true, dims, {}, out));
    } catch {
      throw error;
    }
  }
  if (fs.existsSync(pending)) fs.renameSync(pending, cached);
  return session;
}

/** A cached graph and its weights (any process's) by key. */
function removeCached(dir: string, key: string): void {
  for (const name of fs.readdirSync(dir)) if (name.startsWith(`${key}.`)) fs.rmSync(path.join(dir, name), { force: true });
}

/**
 * A session on `ep` for the graph that provider runs in place of `file` (provider-graph.ts):
 * a float16 variant that fails to open there gives way to the stored graph, with the reason
 * kept in the result's note.
 */
async function createForProvider(file: string, ep: string, optimize: boolean, tuning: SessionTuning): Promise<OpenedSession> {
  const graph = providerGraph(file, ep);
  if (graph.file === file) return { session: await createSession(file, ep, optimize, tuning), device: ep, graph };
  try {
    return { session: await createSession(graph.file, ep, optimize, tuning), device: ep, graph };
  } catch (error) {
    const session = await createSession(file, ep, optimize, tuning);
    return { session, device: ep, graph: { file, note: `float16 graph did not open on ${ep}: ${firstLine(error)}` } };
  }
}

/**
 * Opens `file` (part names it in errors, e.g. "unet/model.onnx") on one device, or for
 * `auto` on the first of AUTO_ORDER whose session actually creates. `fallbacks` collects
 * one line per provider that was tried and failed.
 */
export async function openSession(file: string, part: string, device: DeviceChoice | string, fallbacks: string[] = [], optimize = true, tuning: SessionTuning = defaultTuning): Promise<OpenedSession> {
  if (!fs.existsSync(file)) throw new InvalidModelError(part, `${part} is missing`);
  const bytes = fs.statSync(file).size;
  if (bytes === 0) throw new InvalidModelError(part, `${part} is empty`);
  const candidates = device === 'auto' ? [...AUTO_ORDER] : [device];
  let lastError: unknown;
  for (const ep of candidates) {
    const skip = device === 'auto' ? skipReason(ep) : undefined;
    if (skip) {
      fallbacks.push(`${ep}: ${skip}`);
      continue;
    }
    try {
      return await createForProvider(file, ep, optimize, tuning);
    } catch (error) {
      lastError = error;
      const message = firstLine(error);
      // On the CPU every failure is the file's fault; on another provider it may be either,
      // so check the file on the CPU before blaming the device.
      if (ep === 'cpu') throw new InvalidModelError(part, `${part} cannot be loaded: ${message}`);
      if (device !== 'auto') {
        await assertLoadsOnCpu(file, part);
        throw new DeviceUnavailableError(ep, skipReason(ep) ?? message);
      }
      fallbacks.push(`${ep}: ${message}`);
    }
  }
  throw new DeviceUnavailableError(device, firstLine(lastError));
}

/**
 * A session from graph bytes made in memory (a float16 VAE rewritten to float32 for
 * force_upcast, model/upcast.ts) on the device the model already runs on.
 */
export async function openSessionFromBytes(bytes: Uint8Array, part: string, device: string, deviceOutputs = false): Promise<Session> {
  try {
    return await ort.InferenceSession.create(bytes, sessionOptions(device, true, undefined, {}, deviceOutputs));
  } catch (error) {
    throw new InvalidModelError(part, `${part} cannot be loaded in float32: ${firstLine(error)}`);
  }
}

async function assertLoadsOnCpu(file: string, part: string): Promise<void> {
  try {
    const s = await ort.InferenceSession.create(file, sessionOptions('cpu'));
    await s.release();
  } catch (error) {
    throw new InvalidModelError(part, `${part} cannot be loaded: ${firstLine(error)}`);
  }
}

export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const adapter = /Failed to get a WebGPU adapter: ([^\n]*)/.exec(text);
  if (adapter) return `no WebGPU adapter (${adapter[1]!.slice(0, 120)})`;
  // ORT prefixes its messages with the source location; the artist needs the reason.
  return text.split('\n')[0]!.replace(/^\/onnxruntime_src\/\S+ \S+ /, '').slice(0, 300);
}

export function isTensorMeta(m: ValueMetadata): m is TensorMetadata {
  return m.isTensor;
}

export type FloatType = 'float32' | 'float16';

/** A float tensor of the dtype the graph asks for, from float32 values. */
export function floatTensor(values: Float32Array, dims: readonly number[], type: FloatType | string): ort.Tensor {
  if (type === 'float16') return new ort.Tensor('float16', float32ToFloat16(values), dims);
  if (type === 'float64') return new ort.Tensor('float64', Float64Array.from(values), dims);
  if (type === 'float32') return new ort.Tensor('float32', values, dims);
  throw new Error(`unsupported float input type ${type}`);
}

/** Integer tensor (input_ids, integer timesteps) of the graph's dtype. */
export function intTensor(values: readonly number[], dims: readonly number[], type: string): ort.Tensor {
  if (type === 'int64') return new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(Math.round(v))), dims);
  if (type === 'int32') return new ort.Tensor('int32', Int32Array.from(values, (v) => Math.round(v)), dims);
  throw new Error(`unsupported integer input type ${type}`);
}

/** Any numeric tensor of the given type, rounding for integer types. */
export function numericTensor(values: Float32Array, dims: readonly number[], type: string): ort.Tensor {
  if (type === 'int64' || type === 'int32') return intTensor(Array.from(values), dims, type);
  return floatTensor(values, dims, type);
}

/** Output data as float32, whatever the graph's float type. */
export function toFloat32(tensor: ort.Tensor): Float32Array {
  switch (tensor.type) {
    case 'float32':
      return tensor.data as Float32Array;
    case 'float16':
      return float16ToFloat32(tensor.data as Uint16Array);
    case 'float64':
      return Float32Array.from(tensor.data as Float64Array);
    default:
      throw new Error(`unexpected output type ${tensor.type}`);
  }
}

export { ort };
