import { ApiError } from '../../contract/index.js';

/** Thrown between denoising steps when the run's AbortSignal fired. */
export class GenerationCancelledError extends ApiError {
  constructor() {
    super('cancelled', 'generation cancelled');
    this.name = 'GenerationCancelledError';
  }
}

export function isCancellation(error: unknown): error is GenerationCancelledError {
  return error instanceof ApiError && error.code === 'cancelled';
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new GenerationCancelledError();
}
