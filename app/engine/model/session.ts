import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { DeviceChoice } from '../../contract/index.js';
import { DeviceUnavailableError, InvalidModelError } from './errors.js';
import { float16ToFloat32, float32ToFloat16 } from './float16.js';

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
  return undefined;
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
}

function sessionOptions(device: string, optimize = true): ort.InferenceSession.SessionOptions {
  // logSeverityLevel 3: ORT's own error lines for a provider that fails to start would
  // otherwise land on stderr before we can explain the fallback ourselves. Metadata-only
  // opens (inspect) skip graph optimization, which is most of a big graph's load time.
  return { executionProviders: [device], graphOptimizationLevel: optimize ? 'all' : 'disabled', logSeverityLevel: 3 };
}

/**
 * Opens `file` (part names it in errors, e.g. "unet/model.onnx") on one device, or for
 * `auto` on the first of AUTO_ORDER whose session actually creates. `fallbacks` collects
 * one line per provider that was tried and failed.
 */
export async function openSession(file: string, part: string, device: DeviceChoice | string, fallbacks: string[] = [], optimize = true): Promise<OpenedSession> {
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
      const session = await ort.InferenceSession.create(file, sessionOptions(ep, optimize));
      return { session, device: ep };
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
export async function openSessionFromBytes(bytes: Uint8Array, part: string, device: string): Promise<Session> {
  try {
    return await ort.InferenceSession.create(bytes, sessionOptions(device));
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
