import { z } from 'zod';

export const DeviceInfo = z.object({
  /** onnxruntime execution provider name: cpu, webgpu, cuda, dml, coreml. */
  id: z.string(),
  label: z.string(),
  /** Whether the provider is bundled with (or installed next to) the runtime. */
  available: z.boolean(),
});
export type DeviceInfo = z.infer<typeof DeviceInfo>;

export const StatusResult = z.object({
  app: z.literal('atelier'),
  appVersion: z.string(),
  apiVersion: z.number().int(),
  /** 'electron' | 'web' | 'cli': which door the caller came through. */
  transport: z.enum(['electron', 'web', 'cli']),
  devices: z.array(DeviceInfo),
  home: z.string(),
  startedAt: z.string(),
});
export type StatusResult = z.infer<typeof StatusResult>;

export const statusMethods = {
  status: { params: z.object({}).strict(), result: StatusResult },
} as const;
