import type { LineageNode, LineageResult } from '../../../app/contract/index.js';

export interface TreeNode {
  node: LineageNode;
  children: TreeNode[];
}

/**
 * Turns the library's lineage answer (ancestors root-first, descendants oldest-first) plus the
 * entry itself into a tree: a generation hangs under the generation owning its parent candidate.
 */
export function buildLineageTree(lineage: LineageResult, self: LineageNode): TreeNode[] {
  const nodes = [...lineage.ancestors, self, ...lineage.descendants];
  const byId = new Map<string, TreeNode>();
  const owner = new Map<string, string>();
  for (const node of nodes) {
    if (byId.has(node.generationId)) continue;
    byId.set(node.generationId, { node, children: [] });
    for (const c of node.candidateIds) owner.set(c, node.generationId);
  }
  const roots: TreeNode[] = [];
  for (const tree of byId.values()) {
    const parentGen = tree.node.parentCandidateId ? owner.get(tree.node.parentCandidateId) : undefined;
    const parent = parentGen ? byId.get(parentGen) : undefined;
    if (parent && parent !== tree) parent.children.push(tree);
    else roots.push(tree);
  }
  return roots;
}
