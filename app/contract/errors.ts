import { z } from 'zod';

/**
 * Every failure that crosses the StudioApi boundary carries one of these codes, so a caller
 * can react to the kind of failure without parsing messages.
 */
export const ErrorCode = z.enum([
  'bad_request', // the request does not match the contract (schema, version, method)
  'unknown_method',
  'unauthorized', // web mode: missing or wrong token, foreign origin or host
  'not_found',
  'conflict',
  'invalid_model', // a model folder that is not a usable model
  'invalid_file', // a hostile or malformed file (PNG, zip, project)
  'busy',
  'cancelled',
  'engine_failed', // the engine worker crashed or ran out of memory
  'internal',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const ApiErrorShape = z.object({
  code: ErrorCode,
  message: z.string(),
  /** Machine-readable detail, e.g. schema issues or the missing model part. */
  details: z.unknown().optional(),
});
export type ApiErrorShape = z.infer<typeof ApiErrorShape>;

/** The one error type thrown by StudioApi handlers and re-created by clients. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.details = details;
  }

  toJSON(): ApiErrorShape {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }

  static from(shape: ApiErrorShape): ApiError {
    return new ApiError(shape.code, shape.message, shape.details);
  }
}
