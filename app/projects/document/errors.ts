/**
 * A refused document operation or an unreadable document: the message is for the artist
 * ("Layer "Sketch 1" is locked"). The service turns it into ApiError('bad_request' /
 * 'invalid_file'); the UI can show it as is.
 */
export class DocumentError extends Error {
  readonly details: unknown;

  constructor(message: string, details?: unknown) {
    super(message);
    this.name = 'DocumentError';
    this.details = details;
  }
}
