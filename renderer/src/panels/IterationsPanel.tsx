import { type CandidateNode, type GenerationNode, type ProjectDocument, iterationTree } from '../state/doc-ops.js';
import { useStudio, useUi } from '../state/context.js';
import { type DocumentSession } from '../state/document.js';
import { type StagedCandidate } from '../state/studio.js';
import { useDocument } from '../state/useDocument.js';
import type { GenerationRequestInput } from '../../../app/contract/index.js';
import { libraryImageUrl } from '../api/media.js';
import { recallEntry } from '../history/recall.js';
import { sourceUrl } from '../canvas/raster.js';

/** The generation's candidates from the document, for the staging strip. */
function staged(doc: ProjectDocument, assets: Readonly<Record<string, string>>, node: GenerationNode): StagedCandidate[] {
  const { init: _i, inpaint: _m, controls: _c, ...request } = node.generation.request;
  return node.candidates.flatMap(({ candidate: c }) => {
    // Candidates live in the library (by content hash); older files kept a copy as a part.
    const url = c.image ? sourceUrl(c.image, assets) : libraryImageUrl(c.sha256);
    return url ? [{ id: c.id, seed: c.seed, index: c.index, sha256: c.sha256, width: c.width, height: c.height, url, generationId: node.generation.id, request: { ...(request as unknown as GenerationRequestInput), seed: c.seed, batch: 1 } }] : [];
  });
}

/** Hours and minutes of a generation, in the artist's time zone. */
function clock(iso: string): string {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? '' : at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/**
 * The project's iteration tree: each generation, the candidates it made, and under a
 * candidate the refinements made from it. Clicking a generation brings its candidates back
 * into the staging strip; ↺ restores it as a new branch (history/recall.ts).
 */
export function IterationsPanel({ session }: { session: DocumentSession }) {
  const studio = useStudio();
  const doc = useDocument(session);
  const staging = useUi((s) => s.staging);
  const roots = iterationTree(doc);
  const shown = staging[0]?.generationId;
  if (roots.length === 0) return null;
  const show = (node: GenerationNode) => {
    studio.showBatch(staged(doc, session.assets, node));
    studio.store.set({ compare: [] });
  };
  const renderGeneration = (node: GenerationNode) => {
    const first = staged(doc, session.assets, node)[0];
    const seed = node.generation.request.seed;
    return (
      <li key={node.generation.id}>
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
          title="Restore this step as a new branch: its settings, init image, mask and controls back on the canvas (one undo step)"
          aria-label="Restore as a new branch"
          onClick={() => void recallEntry(studio, session, node.generation.id)}
        >
          ↺
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
    </section>
  );
}
