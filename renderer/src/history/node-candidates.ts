import type { GenerationRequestInput } from '../../../app/contract/index.js';
import type { GenerationNode } from '../state/doc-ops.js';
import type { StagedCandidate } from '../state/studio.js';
import { libraryImageUrl } from '../api/media.js';
import { sourceUrl } from '../canvas/raster.js';

/** A generation node's candidates from the document, as the strip and Compare show them. */
export function nodeCandidates(assets: Readonly<Record<string, string>>, node: GenerationNode): StagedCandidate[] {
  const { init: _i, inpaint: _m, controls: _c, ...request } = node.generation.request;
  return node.candidates.flatMap(({ candidate: c }) => {
    // Candidates live in the library (by content hash); older files kept a copy as a part.
    const url = c.image ? sourceUrl(c.image, assets) : libraryImageUrl(c.sha256);
    return url ? [{ id: c.id, seed: c.seed, index: c.index, sha256: c.sha256, width: c.width, height: c.height, url, generationId: node.generation.id, request: { ...(request as unknown as GenerationRequestInput), seed: c.seed, batch: 1 } }] : [];
  });
}

/** The candidate that stands for a node in Compare: the artist's favourite, else the first. */
export function nodeFace(assets: Readonly<Record<string, string>>, node: GenerationNode): StagedCandidate | undefined {
  const all = nodeCandidates(assets, node);
  const favourite = node.candidates.find((c) => c.candidate.favourite)?.candidate.id;
  return all.find((c) => c.id === favourite) ?? all[0];
}
