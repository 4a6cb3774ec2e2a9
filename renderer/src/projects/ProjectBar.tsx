import { useStudio, useUi } from '../state/context.js';
import { type DocumentSession, starterDocument } from '../state/document.js';
import { useDocument, useUndoState } from '../state/useDocument.js';

/** Project menu, name, dirty and autosave indicators, undo/redo buttons. */
export function ProjectBar({ session }: { session: DocumentSession }) {
  const studio = useStudio();
  const doc = useDocument(session);
  const { canUndo, canRedo, dirty } = useUndoState(session);
  const settings = useUi((s) => s.settings);
  const newProject = () => {
    if (dirty && !window.confirm('Discard unsaved changes?')) return;
    session.load(starterDocument(settings.width, settings.height), {}, null);
    studio.store.set({ frame: { x: 0, y: 0 }, staging: [] });
  };
  return (
    <div className="project-bar">
      <button type="button" data-testid="project-new" onClick={newProject} title="New project (Ctrl+N)">
        New
      </button>
      <span className="project-name" data-testid="project-name" data-dirty={dirty}>
        {doc.name}
        {dirty ? ' •' : ''}
      </span>
      <button type="button" data-testid="undo" disabled={!canUndo} onClick={() => session.history.undo()} title="Undo (Ctrl+Z)" aria-label="Undo">
        ↶
      </button>
      <button type="button" data-testid="redo" disabled={!canRedo} onClick={() => session.history.redo()} title="Redo (Shift+Ctrl+Z)" aria-label="Redo">
        ↷
      </button>
    </div>
  );
}
