import { API_VERSION, type statusMethods } from '../contract/index.js';
import { listDevices } from '../engine/devices.js';
import type { AreaHandlers } from './context.js';
import { APP_VERSION } from './version.js';

export function statusHandlers(): AreaHandlers<typeof statusMethods> {
  return {
    status: async (_params, ctx) => ({
      app: 'atelier',
      appVersion: APP_VERSION,
      apiVersion: API_VERSION,
      transport: ctx.transport,
      devices: await listDevices(),
      home: ctx.home,
      startedAt: ctx.startedAt,
    }),
  };
}
