import type { GenerationRequestInput, ImageRef } from '../../contract/index.js';

/**
 * A generation request as the document keeps it: canvas pixels sent inline as `{ png }` are
 * replaced by a marker (the document holds them as parts: the mask snapshot, the layers),
 * while library (`sha256`) and file references stay as they are.
 */
export function requestForDocument(request: GenerationRequestInput): Record<string, unknown> {
  const image = (ref: ImageRef | undefined) => (ref && 'png' in ref ? { png: '(canvas)' } : ref);
  return JSON.parse(
    JSON.stringify({
      ...request,
      init: image(request.init),
      inpaint: request.inpaint ? { ...request.inpaint, mask: image(request.inpaint.mask) } : undefined,
      controls: request.controls?.map((c) => ({ ...c, image: image(c.image) })),
    }),
  ) as Record<string, unknown>;
}
