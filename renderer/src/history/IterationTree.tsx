import type { LineageNode, LineageResult } from '../../../app/contract/index.js';
import { buildLineageTree, type TreeNode } from './lineage.js';

/** The entry's lineage drawn as a tree: ancestors above, refinements below; click to navigate. */
export function IterationTree({ lineage, self, onSelect }: { lineage: LineageResult; self: LineageNode; onSelect: (id: string) => void }) {
  const roots = buildLineageTree(lineage, self);
  const current = self.generationId;
  if (roots.length === 0) return null;
  return (
    <section className="iteration-tree" data-testid="iteration-tree" aria-label="Iteration tree">
      <h3>Iterations</h3>
      <ul>
        {roots.map((n) => (
          <Branch key={n.node.generationId} tree={n} current={current} onSelect={onSelect} />
        ))}
      </ul>
    </section>
  );
}

function Branch({ tree, current, onSelect }: { tree: TreeNode; current: string; onSelect: (id: string) => void }) {
  const n: LineageNode = tree.node;
  return (
    <li>
      <button type="button" className={n.generationId === current ? 'tree-node current' : 'tree-node'} data-testid="tree-node" data-mode={n.mode} aria-current={n.generationId === current} onClick={() => onSelect(n.generationId)}>
        <span className="mode">{n.mode}</span> {n.prompt.slice(0, 48) || '(no prompt)'} · {n.candidateIds.length}
      </button>
      {tree.children.length > 0 && (
        <ul>
          {tree.children.map((c) => (
            <Branch key={c.node.generationId} tree={c} current={current} onSelect={onSelect} />
          ))}
        </ul>
      )}
    </li>
  );
}
