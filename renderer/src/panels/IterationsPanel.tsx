import { useState } from 'react';
import { type CandidateNode, type GenerationNode, iterationTree } from '../state/doc-ops.js';
import { useStudio, useUi } from '../state/context.js';
import { type DocumentSession } from '../state/document.js';
import { useDocument } from '../state/useDocument.js';
import { restoreBranch } from '../history/branches.js';
import { nodeCandidates, nodeFace } from '../history/node-candidates.js';
import { NodeCompare } from '../gallery/NodeCompare.js';

/** Hours and minutes of a generation, in the artist's time zone. */
function clock(iso: string): string {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? '' : at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Every node of the tree, by generation id. */
function byId(roots: readonly GenerationNode[]): Map<string, GenerationNode> {
  const out = new Map<string, GenerationNode>();
  const walk = (n: GenerationNode) => {
    out.set(n.generation.id, n);
    for (const c of n.candidates) c.refinements.forEach(walk);
  };
  roots.forEach(walk);
  return out;
}

/**
 * The project's iteration tree: each generation, the candidates it made, and under a
 * candidate the refinements made from it. Clicking a generation brings its candidates back
 * into the staging strip; ↺ restores the document it ran from as a new branch
 * (history/branches.ts); ⇆ on two nodes compares them (gallery/NodeCompare.tsx).
 */
export function IterationsPanel({ session }: { session: DocumentSession }) {
  const studio = useStudio();
  const doc = useDocument(session);
  const staging = useUi((s) => s.staging);
  const [picked, setPicked] = useState<readonly string[]>([]);
  const roots = iterationTree(doc);
  const shown = staging[0]?.generationId;
  if (roots.length === 0) return null;
  const nodes = byId(roots);
  const show = (node: GenerationNode) => {
    studio.showBatch(nodeCandidates(session.assets, node));
    studio.store.set({ compare: [] });
  };
  const pick = (id: string) => setPicked((p) => (p.includes(id) ? p.filter((x) => x !== id) : [...p, id].slice(-2)));
  const pair = picked.flatMap((id) => {
    const node = nodes.get(id);
    const face = node && nodeFace(session.assets, node);
    return face ? [face] : [];
  });
  const renderGeneration = (node: GenerationNode) => {
    const first = nodeFace(session.assets, node);
    const seed = node.generation.request.seed;
    const comparing = picked.includes(node.generation.id);
    return (
      <li key={node.generation.id} data-generation-id={node.generation.id}>
        <button
          type="button"
          className={node.generation.id === shown ? 'tree-node current' : 'tree-node'}
          aria-current={node.generation.id === shown}
          data-testid="project-tree-node"
          data-mode={node.generation.mode}
          title={String(node.generation.request.prompt ?? '')}
          onClick={() => show(node)}
        >
          {first ? <img className="tree-thumb" src={first.url} alt="" data-testid="tree-thumb" /> : <span className="tree-thumb" />}
          <span className="tree-text">
            <span className="mode">{node.generation.mode}</span> <span data-testid="tree-seed">#{typeof seed === 'number' ? seed : '?'}</span> · {node.candidates.length}
            <time className="muted" dateTime={node.generation.createdAt}>
              {' '}
              {clock(node.generation.createdAt)}
            </time>
            <span className="tree-prompt muted">{String(node.generation.request.prompt ?? '').slice(0, 32)}</span>
          </span>
        </button>
        <button
          type="button"
          className="tree-restore"
          data-testid="tree-restore"
          title="Restore this step as a new branch: the canvas as it was when it ran (layers, masks, controls, regions, frame) and its settings (one undo step)"
          aria-label="Restore as a new branch"
          onClick={() => void restoreBranch(studio, session, node.generation.id)}
        >
          ↺
        </button>
        <button
          type="button"
          className={comparing ? 'tree-compare comparing' : 'tree-compare'}
          data-testid="tree-compare"
          aria-pressed={comparing}
          title="Compare with another step: pictures, parameters and inputs"
          aria-label="Compare this step"
          onClick={() => pick(node.generation.id)}
        >
          ⇆
        </button>
        {node.candidates.some((c) => c.refinements.length > 0) && (
          <ul>
            {node.candidates.filter((c) => c.refinements.length > 0).map((c: CandidateNode) => (
              <li key={c.candidate.id}>
                <span className="muted">#{c.candidate.seed} →</span>
                <ul>{c.refinements.map(renderGeneration)}</ul>
              </li>
            ))}
          </ul>
        )}
      </li>
    );
  };
  return (
    <section className="panel iteration-tree" aria-label="Iterations" data-testid="project-tree">
      <h2>Iterations</h2>
      <ul>{roots.map(renderGeneration)}</ul>
      {pair.length === 2 && pair[0] && pair[1] && <NodeCompare session={session} a={pair[0]} b={pair[1]} onClose={() => setPicked([])} />}
    </section>
  );
}
