import type { Candidate, Generation, ImageSource, ProjectDocument, RasterRef } from '../../contract/projects.js';
import { sourceKey } from './assets.js';

/** A candidate and the generations that refined it. */
export interface CandidateNode {
  candidate: Candidate;
  refinements: GenerationNode[];
}

/** A generation and its candidates, each with its own refinements. */
export interface GenerationNode {
  generation: Generation;
  candidates: CandidateNode[];
}

/**
 * The iteration tree: generations from scratch are roots; a generation with a
 * parentCandidateId hangs under that candidate. Order follows the document (creation order).
 */
export function iterationTree(doc: ProjectDocument): GenerationNode[] {
  const byParent = new Map<string | null, Generation[]>();
  for (const generation of doc.generations) {
    const list = byParent.get(generation.parentCandidateId) ?? [];
    list.push(generation);
    byParent.set(generation.parentCandidateId, list);
  }
  const visiting = new Set<string>();
  const node = (generation: Generation): GenerationNode => {
    // The schema forbids unknown parents, and a candidate belongs to exactly one generation, so
    // a cycle cannot occur in a valid document; the guard keeps a corrupted one from hanging.
    visiting.add(generation.id);
    const result = {
      generation,
      candidates: generation.candidates.map((candidate) => ({
        candidate,
        refinements: (byParent.get(candidate.id) ?? []).filter((g) => !visiting.has(g.id)).map(node),
      })),
    };
    visiting.delete(generation.id);
    return result;
  };
  return (byParent.get(null) ?? []).map(node);
}

/** The generations from the first txt2img down to the one that made `candidateId`, oldest first. */
export function lineage(doc: ProjectDocument, candidateId: string): Generation[] {
  const owner = new Map<string, Generation>();
  for (const generation of doc.generations) for (const c of generation.candidates) owner.set(c.id, generation);
  const chain: Generation[] = [];
  let generation = owner.get(candidateId);
  while (generation && !chain.includes(generation)) {
    chain.unshift(generation);
    generation = generation.parentCandidateId === null ? undefined : owner.get(generation.parentCandidateId);
  }
  return chain;
}

function imageSources(doc: ProjectDocument): Array<RasterRef | ImageSource> {
  const sources: Array<RasterRef | ImageSource> = [];
  for (const layer of doc.layers) {
    if ('image' in layer && layer.image) sources.push(layer.image);
  }
  for (const generation of doc.generations) {
    if (generation.maskSnapshot) sources.push(generation.maskSnapshot);
    for (const c of generation.candidates) if (c.image) sources.push(c.image);
  }
  return sources;
}

/** Every part the document refers to: the project's own pixels, which travel with it as assets. */
export function referencedParts(doc: ProjectDocument): Set<string> {
  return new Set(imageSources(doc).flatMap((ref) => ('part' in ref ? [ref.part] : [])));
}

/** Every library image (SHA-256) the document refers to: the service resolves these, the UI never sends them. */
export function referencedImages(doc: ProjectDocument): Set<string> {
  return new Set(imageSources(doc).flatMap((ref) => ('sha256' in ref ? [ref.sha256] : [])));
}

/** What a save writes: every part and every library image, by their entry names (sourceKey). */
export function referencedEntries(doc: ProjectDocument): Set<string> {
  return new Set(imageSources(doc).map(sourceKey));
}
