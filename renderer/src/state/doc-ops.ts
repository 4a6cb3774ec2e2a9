import type { GenerationRequestInput } from '../../../app/contract/index.js';
import { modeOf } from '../../../app/contract/index.js';

// The document model's operations and types, re-exported with the one helper the renderer
// adds, so UI modules import the document from one place.
export * from '../../../app/projects/document/index.js';

export function modeOfRequest(request: GenerationRequestInput) {
  return modeOf({ init: request.init, inpaint: request.inpaint as never });
}
