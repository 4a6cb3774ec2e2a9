import { ApiError } from '../../contract/index.js';

/** A model folder (or ControlNet folder) that cannot be used; `part` names the culprit, e.g. "unet/model.onnx". */
export class InvalidModelError extends ApiError {
  readonly part: string;

  constructor(part: string, message: string) {
    super('invalid_model', message, { part });
    this.name = 'InvalidModelError';
    this.part = part;
  }
}

/** The requested execution provider could not start a session. */
export class DeviceUnavailableError extends ApiError {
  constructor(device: string, reason: string) {
    super('engine_failed', `device ${device} could not start: ${reason}`, { device });
    this.name = 'DeviceUnavailableError';
  }
}
