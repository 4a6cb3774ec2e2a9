import type { DeviceInfo } from '../contract/index.js';

const LABELS: Record<string, string> = {
  cpu: 'CPU',
  webgpu: 'WebGPU (Vulkan / D3D12 / Metal)',
  cuda: 'NVIDIA CUDA',
  tensorrt: 'NVIDIA TensorRT',
  dml: 'DirectML',
  coreml: 'Core ML',
};

/**
 * The execution providers this onnxruntime-node build knows about. `available` means the
 * provider's libraries are present; whether it actually starts on this machine is only
 * known once a session is created on it.
 */
export async function listDevices(): Promise<DeviceInfo[]> {
  const ort = await import('onnxruntime-node');
  const backends = ort.listSupportedBackends();
  return backends.map((b) => ({ id: b.name, label: LABELS[b.name] ?? b.name, available: b.bundled }));
}
