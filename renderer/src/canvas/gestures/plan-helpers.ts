import type { Target } from './targets.js';
import type { Op } from './types.js';

/**
 * The operations that make a target ready for a mark: create the layer when it is new, and
 * select it (the artist sees where the mark went, and the next one goes there too).
 */
export function targetOps(target: Exclude<Target, { refuse: string }>, selection: readonly string[]): { layerId: string; ops: Op[] } {
  if ('create' in target) return { layerId: target.create.id, ops: [{ op: 'create-layer', layer: target.create }, { op: 'select', layerId: target.create.id }] };
  return { layerId: target.layerId, ops: selection[0] === target.layerId ? [] : [{ op: 'select', layerId: target.layerId }] };
}
