import { useEffect, useMemo, useState } from 'react';
import type { StatusResult } from '../../app/contract/index.js';
import { ConnectionBanner } from './api/ConnectionBanner.js';
import { useApi } from './api/context.js';
import { CanvasView, isTyping } from './canvas/CanvasView.js';
import { toolForKey } from './canvas/gestures/index.js';
import { MAX_SCALE, fitToView, zoomStep } from './canvas/viewport.js';
import { Gallery } from './gallery/Gallery.js';
import { LivePanel } from './gallery/LivePanel.js';
import { RegionMixer } from './gallery/RegionMixer.js';
import { HistoryView } from './history/HistoryView.js';
import { ControlPanel } from './panels/ControlPanel.js';
import { IterationsPanel } from './panels/IterationsPanel.js';
import { LayersPanel } from './panels/LayersPanel.js';
import { MaskPanel } from './panels/MaskPanel.js';
import { PromptPanel } from './panels/PromptPanel.js';
import { QueuePanel } from './panels/QueuePanel.js';
import { ToolOptions, Toolbar } from './panels/Toolbar.js';
import { ProjectBar } from './projects/ProjectBar.js';
import { ModelManager } from './models/ModelManager.js';
import { modelsOf } from './models/models-state.js';
import { acceptCandidate, addReferenceImage, favourite, generateFromCanvas, recordGeneration, refineCandidate, variations } from './state/actions.js';
import { StudioProvider, useStudio, useUi } from './state/context.js';
import { DocumentSession, starterDocument } from './state/document.js';
import { StudioController } from './state/studio.js';
import { Toasts } from './ui/Toasts.js';

export function App() {
  const api = useApi();
  const studio = useMemo(() => new StudioController(api), [api]);
  const [session, setSession] = useState<DocumentSession | null>(null);
  // The model list comes first: the first project opens at the chosen model's native size with
  // the frame on it (docs/canvas.md, Frame and view), not at a default the frame then jumps away from.
  useEffect(() => {
    let live = true;
    void studio.loadModels().finally(() => {
      const { width, height } = studio.state.settings;
      if (live) setSession((current) => current ?? new DocumentSession(starterDocument(width, height)));
    });
    return () => {
      live = false;
    };
  }, [studio]);
  return (
    <StudioProvider studio={studio}>
      {session ? (
        <Studio session={session} />
      ) : (
        <main className="app loading" data-testid="loading">
          <p>Loading models…</p>
          <Toasts />
        </main>
      )}
    </StudioProvider>
  );
}

function ServerStatus() {
  const api = useApi();
  const [status, setStatus] = useState<StatusResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState(false);
  useEffect(() => {
    api.call('status', {}).then(setStatus, (e: unknown) => setError(e instanceof Error ? e.message : String(e)));
    return api.subscribe((event) => {
      if (event.type === 'hello') setLive(true);
    });
  }, [api]);
  return (
    <span className="status" data-testid="server-status" data-live={live} title={status?.devices.map((d) => `${d.label}: ${d.available ? 'available' : 'not installed'}`).join('\n')}>
      {error ? `Server error: ${error}` : status ? `v${status.appVersion} · ${status.transport}` : 'connecting…'}
    </span>
  );
}

function Studio({ session }: { session: DocumentSession }) {
  const studio = useStudio();
  const view = useUi((s) => s.view);

  useEffect(() => {
    const off = studio.connect();
    // The service's copy of the project follows every edit (autosave and recovery use it).
    const detach = studio.attachDocument(session);
    const offDone = studio.onGenerationCompleted((generationId, candidates, job) => {
      try {
        recordGeneration(session, generationId, candidates, job);
      } catch (e) {
        studio.toast('error', `Could not file the candidates in the project: ${String(e)}`);
      }
    });
    return () => {
      off();
      detach();
      offDone();
    };
  }, [studio, session]);

  const generate = () => void generateFromCanvas(studio, session);

  const fit = () => {
    const el = document.querySelector('[data-testid="canvas"]');
    if (!el) return;
    const r = el.getBoundingClientRect();
    // Fit fills the view, above 100 % too: a 256 px canvas is not left tiny on a large screen.
    studio.store.set({ viewport: fitToView(session.doc.canvas, { width: r.width, height: r.height }, 24, MAX_SCALE) });
  };
  const zoom = (direction: 1 | -1) => {
    const el = document.querySelector('[data-testid="canvas"]');
    const r = el?.getBoundingClientRect();
    studio.store.set({ viewport: zoomStep(studio.state.viewport, { x: (r?.width ?? 0) / 2, y: (r?.height ?? 0) / 2 }, direction) });
  };

  // Shortcuts. Document edits undo with Ctrl/Cmd+Z; redo with Shift+Ctrl/Cmd+Z (or Ctrl+Y).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const mod = e.ctrlKey || e.metaKey;
      if (mod && e.key === 'Enter') {
        e.preventDefault();
        void generateFromCanvas(studio, session);
        return;
      }
      if (e.key === 'Escape' && !isTyping(e.target)) {
        void studio.cancelCurrent();
        return;
      }
      if (isTyping(e.target)) return;
      const key = e.key.toLowerCase();
      if (mod && key === 'z') {
        e.preventDefault();
        if (e.shiftKey) session.history.redo();
        else session.history.undo();
        return;
      }
      if (mod && key === 'y') {
        e.preventDefault();
        session.history.redo();
        return;
      }
      if (mod || e.altKey) return;
      if (e.key === '+' || e.key === '=') zoom(1);
      else if (e.key === '-') zoom(-1);
      else if (e.key === '0') fit();
      else {
        const tool = toolForKey(key, e.shiftKey);
        if (tool) studio.store.set({ tool });
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  // Drop or paste an image: it becomes a reference layer.
  useEffect(() => {
    const fromFile = (file: File) => {
      if (!file.type.startsWith('image/')) return false;
      const reader = new FileReader();
      reader.onload = () => void addReferenceImage(studio, session, String(reader.result), file.name || 'Pasted image');
      reader.readAsDataURL(file);
      return true;
    };
    const onDrop = (e: DragEvent) => {
      const files = [...(e.dataTransfer?.files ?? [])];
      if (files.length === 0) return;
      e.preventDefault();
      files.forEach(fromFile);
    };
    const onDragOver = (e: DragEvent) => e.preventDefault();
    const onPaste = (e: ClipboardEvent) => {
      if (isTyping(e.target)) return;
      const files = [...(e.clipboardData?.files ?? [])];
      if (files.some(fromFile)) e.preventDefault();
    };
    window.addEventListener('drop', onDrop);
    window.addEventListener('dragover', onDragOver);
    window.addEventListener('paste', onPaste);
    return () => {
      window.removeEventListener('drop', onDrop);
      window.removeEventListener('dragover', onDragOver);
      window.removeEventListener('paste', onPaste);
    };
  }, [studio, session]);

  return (
    <main className="app">
      <header className="topbar">
        <h1>Atelier</h1>
        <ProjectBar session={session} />
        <nav className="views" aria-label="Views">
          <button type="button" aria-pressed={view === 'canvas'} data-testid="view-canvas" onClick={() => studio.store.set({ view: 'canvas' })}>
            Canvas
          </button>
          <button type="button" aria-pressed={view === 'history'} data-testid="view-history" onClick={() => studio.store.set({ view: 'history' })}>
            History
          </button>
          <button type="button" data-testid="view-models" onClick={() => void modelsOf(studio).openManager()}>
            Models
          </button>
        </nav>
        <span className="spacer" />
        <ServerStatus />
      </header>
      <ConnectionBanner />
      {view === 'history' ? (
        <HistoryView session={session} />
      ) : (
        <div className="workspace">
          <Toolbar />
          <div className="center">
            <ToolOptions onFit={fit} onZoom={zoom} />
            <CanvasView session={session} />
            <LivePanel session={session} />
            <QueuePanel />
            <Gallery
              onFavourite={(c) => void favourite(studio, session, c)}
              onAccept={(c) => acceptCandidate(studio, session, c)}
              onRefine={(c) => void refineCandidate(studio, session, c)}
              onVariations={(c) => void variations(studio, c)}
            />
            <RegionMixer session={session} />
          </div>
          <aside className="side">
            <PromptPanel session={session} onGenerate={generate} />
            <LayersPanel session={session} />
            <MaskPanel session={session} />
            <ControlPanel session={session} />
            <IterationsPanel session={session} />
          </aside>
        </div>
      )}
      <ModelManager />
      <Toasts />
    </main>
  );
}
