import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { ExportFormat, RecoveryEntry, Result } from '../../../app/contract/index.js';

type RecentProject = Result<'projects.recent'>[number];
import { useStudio, useUi } from '../state/context.js';
import { type DocumentSession } from '../state/document.js';
import { type StudioController } from '../state/studio.js';
import { useDocument, useUndoState } from '../state/useDocument.js';
import { exportProject, newProject, openProject, recoverProject, saveProject } from './projects.js';
import { type DownloadFormat, downloadProject, isWebDoor, openUploadedProject } from './web-files.js';

type Dialog = { kind: 'open' } | { kind: 'saveAs' } | { kind: 'export'; format: ExportFormat } | null;

const EXTENSIONS: Record<ExportFormat, string> = { png: '.png', ora: '.ora', psd: '.psd', 'contact-sheet': '-contact-sheet.png' };

/**
 * The project menu (new, open, save, save as, export), the name with its unsaved-changes dot,
 * the autosave time, undo/redo, and the recovery prompt after a crash. Paths are on the
 * studio's machine: in web mode the artist types them; the desktop app's native dialogs send
 * them as desktop.command events. In a browser, "Open from this computer" and "Download" also
 * use the browser's own file picker and downloads (web-files.ts).
 */
export function ProjectBar({ session }: { session: DocumentSession }) {
  const studio = useStudio();
  const doc = useDocument(session);
  const { canUndo, canRedo, dirty } = useUndoState(session);
  const info = useSyncExternalStore(session.session.subscribe, () => session.session.get());
  const settings = useUi((s) => s.settings);
  const [dialog, setDialog] = useState<Dialog>(null);
  const [recoveries, setRecoveries] = useState<RecoveryEntry[]>([]);
  const upload = useRef<HTMLInputElement>(null);
  const web = isWebDoor();

  // Start: offer recovery of a crashed session, else begin a new project.
  useEffect(() => {
    let live = true;
    void (async () => {
      const found = await studio.api.call('projects.recoveries', {}).catch(() => []);
      if (!live) return;
      // With something to recover, the artist chooses first; otherwise a new project starts.
      if (found.length > 0) setRecoveries(found);
      else if (!session.session.get().sessionId) await newProject(studio, session, session.doc.canvas.width, session.doc.canvas.height);
    })();
    return () => {
      live = false;
    };
  }, [studio, session]);

  useEffect(
    () =>
      studio.api.subscribe((event) => {
        const sessionId = session.session.get().sessionId;
        if (event.type === 'project.autosaved' && event.sessionId === sessionId) session.session.set({ autosavedAt: event.savedAt });
        if (event.type === 'desktop.command') {
          if (event.command === 'project.new') void newProject(studio, session, settings.width, settings.height);
          if (event.command === 'project.open' && event.path) void openProject(studio, session, event.path);
          if (event.command === 'project.save') void (session.session.get().path ? saveProject(studio, session) : Promise.resolve(setDialog({ kind: 'saveAs' })));
          if (event.command === 'project.saveAs' && event.path) void saveProject(studio, session, event.path);
        }
      }),
    [studio, session, settings.width, settings.height],
  );

  const save = () => (info.path ? void saveProject(studio, session) : setDialog({ kind: 'saveAs' }));
  const fresh = () => {
    if (dirty && !window.confirm('Discard unsaved changes?')) return;
    void newProject(studio, session, settings.width, settings.height);
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey)) return;
      const key = e.key.toLowerCase();
      if (key === 's') {
        e.preventDefault();
        if (e.shiftKey) setDialog({ kind: 'saveAs' });
        else save();
      } else if (key === 'o') {
        e.preventDefault();
        setDialog({ kind: 'open' });
      } else if (key === 'e' && e.shiftKey) {
        e.preventDefault();
        setDialog({ kind: 'export', format: 'png' });
      } else if (key === 'n' && e.altKey) {
        e.preventDefault();
        fresh();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  return (
    <div className="project-bar">
      <div className="menu" role="menubar" aria-label="Project">
        <button type="button" role="menuitem" data-testid="project-new" onClick={fresh} title="New project (Alt+Ctrl+N)">
          New
        </button>
        <button type="button" role="menuitem" data-testid="project-open" onClick={() => setDialog({ kind: 'open' })} title="Open (Ctrl+O)">
          Open…
        </button>
        <button type="button" role="menuitem" data-testid="project-save" onClick={save} title="Save (Ctrl+S)">
          Save
        </button>
        <button type="button" role="menuitem" data-testid="project-save-as" onClick={() => setDialog({ kind: 'saveAs' })} title="Save as (Shift+Ctrl+S)">
          Save as…
        </button>
        <select
          aria-label="Export"
          data-testid="project-export"
          value=""
          onChange={(e) => {
            if (e.target.value) setDialog({ kind: 'export', format: e.target.value as ExportFormat });
          }}
        >
          <option value="">Export…</option>
          <option value="png">PNG (flattened)</option>
          <option value="ora">OpenRaster (.ora)</option>
          <option value="psd">Photoshop (.psd)</option>
          <option value="contact-sheet">Contact sheet</option>
        </select>
        {web && (
          <>
            <button
              type="button"
              role="menuitem"
              data-testid="project-upload"
              onClick={() => upload.current?.click()}
              aria-label="Open from this computer"
              title="Open from this computer (.atelier, .ora, .psd)"
            >
              Upload…
            </button>
            <input
              ref={upload}
              type="file"
              hidden
              accept=".atelier,.ora,.psd"
              data-testid="project-upload-input"
              onChange={(e) => {
                const file = e.target.files?.[0];
                // Cleared so that choosing the same file again still fires a change.
                e.target.value = '';
                if (!file) return;
                if (dirty && !window.confirm('Discard unsaved changes?')) return;
                void openUploadedProject(studio, session, file);
              }}
            />
            <select
              aria-label="Download"
              data-testid="project-download"
              value=""
              onChange={(e) => {
                if (e.target.value) void downloadProject(studio, session, e.target.value as DownloadFormat);
              }}
            >
              <option value="">Download…</option>
              <option value="atelier">Project (.atelier)</option>
              <option value="png">PNG (flattened)</option>
              <option value="ora">OpenRaster (.ora)</option>
              <option value="psd">Photoshop (.psd)</option>
              <option value="contact-sheet">Contact sheet</option>
            </select>
          </>
        )}
      </div>
      <span className="project-name" data-testid="project-name" data-dirty={dirty} data-session={info.sessionId ? 'ready' : 'pending'} title={info.path ?? 'Not saved yet'}>
        {doc.name}
        {dirty ? ' •' : ''}
      </span>
      <span className="autosave" data-testid="autosave" data-state={autosaveState(dirty, info.autosavedAt, info.pushedAt)}>
        {dirty ? 'unsaved changes' : info.path ? 'saved' : ''}
        {dirty && autosaveState(dirty, info.autosavedAt, info.pushedAt) === 'pending' ? ' · autosave pending' : ''}
        {info.autosavedAt ? ` · autosaved ${new Date(info.autosavedAt).toLocaleTimeString()}` : ''}
      </span>
      <button type="button" data-testid="undo" disabled={!canUndo} onClick={() => session.history.undo()} title="Undo (Ctrl+Z)" aria-label="Undo">
        ↶
      </button>
      <button type="button" data-testid="redo" disabled={!canRedo} onClick={() => session.history.redo()} title="Redo (Shift+Ctrl+Z)" aria-label="Redo">
        ↷
      </button>
      {dialog && <PathDialog studio={studio} session={session} dialog={dialog} onClose={() => setDialog(null)} />}
      {recoveries.length > 0 && (
        <RecoveryPrompt
          entries={recoveries}
          onRecover={(id) => {
            setRecoveries([]);
            void recoverProject(studio, session, id);
          }}
          onDiscard={() => {
            // A recovery that cannot be discarded now is offered again on the next start, where it can be.
            for (const r of recoveries) void studio.api.call('projects.discardRecovery', { recoveryId: r.recoveryId }).catch(() => undefined);
            setRecoveries([]);
            if (!session.session.get().sessionId) void newProject(studio, session, session.doc.canvas.width, session.doc.canvas.height);
          }}
        />
      )}
    </div>
  );
}

/** Whether the recovery copy holds the latest edits the service has received. */
function autosaveState(dirty: boolean, autosavedAt: string | null, pushedAt: string | null): 'clean' | 'pending' | 'current' {
  if (!dirty) return 'clean';
  if (!autosavedAt || (pushedAt !== null && autosavedAt < pushedAt)) return 'pending';
  return 'current';
}

function PathDialog({ studio, session, dialog, onClose }: { studio: StudioController; session: DocumentSession; dialog: NonNullable<Dialog>; onClose: () => void }) {
  const current = session.session.get().path;
  const base = current ? current.replace(/\.atelier$/, '') : '';
  const initial = dialog.kind === 'export' ? (base ? base + EXTENSIONS[dialog.format] : '') : dialog.kind === 'saveAs' ? (current ?? '') : '';
  const [path, setPath] = useState(initial);
  const [recent, setRecent] = useState<RecentProject[]>([]);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (dialog.kind !== 'open') return;
    // Without the recent list the dialog still takes a typed path.
    studio.api.call('projects.recent', {}).then(setRecent, () => undefined);
  }, [dialog.kind, studio]);
  const title = dialog.kind === 'open' ? 'Open project' : dialog.kind === 'saveAs' ? 'Save project as' : `Export ${dialog.format}`;
  const submit = async (chosen: string) => {
    if (!chosen.trim()) return;
    setBusy(true);
    const ok =
      dialog.kind === 'open'
        ? await openProject(studio, session, chosen.trim())
        : dialog.kind === 'saveAs'
          ? await saveProject(studio, session, chosen.trim().endsWith('.atelier') ? chosen.trim() : `${chosen.trim()}.atelier`)
          : await exportProject(studio, session, dialog.format, chosen.trim());
    setBusy(false);
    if (ok) onClose();
  };
  return (
    <div className="modal-backdrop" onKeyDown={(e) => e.key === 'Escape' && onClose()}>
      <form
        className="modal"
        role="dialog"
        aria-label={title}
        data-testid="path-dialog"
        onSubmit={(e) => {
          e.preventDefault();
          void submit(path);
        }}
      >
        <h2>{title}</h2>
        <label className="field">
          <span className="label">File path on the studio's machine</span>
          <input autoFocus data-testid="path-input" value={path} onChange={(e) => setPath(e.target.value)} placeholder={dialog.kind === 'export' ? '/home/me/art/scene.png' : '/home/me/art/scene.atelier'} />
        </label>
        {recent.length > 0 && (
          <ul className="recent">
            {recent.map((r) => (
              <li key={r.path}>
                <button type="button" disabled={!r.exists} onClick={() => void submit(r.path)}>
                  {r.name} <span className="muted">{r.path}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
        <div className="row">
          <span className="spacer" />
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" data-testid="path-submit" disabled={busy || !path.trim()}>
            {dialog.kind === 'open' ? 'Open' : dialog.kind === 'saveAs' ? 'Save' : 'Export'}
          </button>
        </div>
      </form>
    </div>
  );
}

function RecoveryPrompt({ entries, onRecover, onDiscard }: { entries: RecoveryEntry[]; onRecover: (id: string) => void; onDiscard: () => void }) {
  return (
    <div className="modal-backdrop">
      <div className="modal" role="alertdialog" aria-label="Recover unsaved work" data-testid="recovery-prompt">
        <h2>Recover unsaved work?</h2>
        <p>Atelier did not close cleanly. These projects were autosaved:</p>
        <ul className="recent">
          {entries.map((r) => (
            <li key={r.recoveryId}>
              <button type="button" data-testid="recover" onClick={() => onRecover(r.recoveryId)}>
                {r.name} <span className="muted">{new Date(r.savedAt).toLocaleString()}</span>
              </button>
            </li>
          ))}
        </ul>
        <div className="row">
          <span className="spacer" />
          <button type="button" data-testid="discard-recovery" onClick={onDiscard}>
            Discard
          </button>
        </div>
      </div>
    </div>
  );
}
