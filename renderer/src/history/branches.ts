import { ApiError, type DocumentSnapshot, type StoredSnapshot } from '../../../app/contract/index.js';
import { type Layer, type ProjectDocument, pngToDataUrl } from '../../../app/projects/document/index.js';
import { libraryImageUrl } from '../api/media.js';
import { generationMode } from '../canvas/mode.js';
import { type DocumentSession } from '../state/document.js';
import { settingsFromRequest } from '../state/settings.js';
import { type StudioController, errorMessage } from '../state/studio.js';
import { recallEntry } from './recall.js';

// Branches you can return to (docs/canvas.md, "Branches"; issue 15): each generation keeps
// the document it ran from — layers, masks, controls, region boxes, canvas and frame — in
// the library (library.putSnapshot), its layer pixels by content hash, so any node of the
// iteration tree can be brought back whole, as one undo step.

/** The document as Generate saw it: immutable, so keeping the reference is the copy. */
interface Captured {
  studio: StudioController;
  doc: ProjectDocument;
  /** The parts then (immutable too): another project opened meanwhile does not lose them. */
  assets: Readonly<Record<string, string>>;
  frame: { x: number; y: number };
}

/** Jobs whose generation's snapshot is kept when it completes (jobs that never do are evicted). */
const captured = new Map<string, Captured>();
const MAX_PENDING = 64;
/** Snapshots being stored, by generation: a restore waits for its node's. */
const storing = new Map<string, Promise<void>>();
/**
 * Parts the library already holds, with their hashes: a later snapshot names them by hash
 * instead of sending the bytes again. Parts are immutable (new pixels get a new part), so a
 * part's hash never changes.
 */
const inLibrary = new Map<string, string>();

/** Remembers the document a just-queued job is generating from. */
export function captureForJob(jobId: string, studio: StudioController, session: DocumentSession): void {
  captured.set(jobId, { studio, doc: session.doc, assets: session.assets, frame: { ...studio.state.frame } });
  while (captured.size > MAX_PENDING) captured.delete(captured.keys().next().value!);
}

function snapshotOf(c: Captured): DocumentSnapshot {
  return { canvas: c.doc.canvas, layers: c.doc.layers, frame: { x: Math.round(c.frame.x), y: Math.round(c.frame.y) } };
}

function partsOf(layers: readonly Layer[]): string[] {
  return [...new Set(layers.flatMap((l) => ('image' in l && l.image && 'part' in l.image ? [l.image.part] : [])))];
}

/** Stores the snapshot of the document job `jobId` ran from for `generationId`, in the background. */
export function keepSnapshot(jobId: string, generationId: string): void {
  const c = captured.get(jobId);
  if (!c) return;
  captured.delete(jobId);
  const run = storeSnapshot(c, generationId)
    .catch((error: unknown) => c.studio.toast('error', `Could not keep the canvas of this generation for restoring: ${errorMessage(error)}`))
    .finally(() => storing.delete(generationId));
  storing.set(generationId, run);
}

async function storeSnapshot(c: Captured, generationId: string): Promise<void> {
  const snapshot = snapshotOf(c);
  const send = (byHash: boolean) => {
    const parts: Record<string, string | { sha256: string }> = {};
    for (const part of partsOf(snapshot.layers)) {
      const sha = byHash ? inLibrary.get(part) : undefined;
      const bytes = c.assets[part];
      if (sha) parts[part] = { sha256: sha };
      else if (bytes) parts[part] = bytes;
    }
    return c.studio.api.call('library.putSnapshot', { generationId, snapshot, parts });
  };
  let stored: StoredSnapshot;
  try {
    stored = await send(true);
  } catch (error) {
    // The library lost an image it had (deleted since): send every part's bytes once.
    if (!(error instanceof ApiError) || error.code !== 'not_found' || !(error.details as { part?: string } | undefined)?.part) throw error;
    stored = await send(false);
  }
  for (const [part, sha] of Object.entries(stored.parts)) inLibrary.set(part, sha);
}

const following = new WeakSet<DocumentSession>();
/** A document without a frame (never moved) has it at 0, 0 (docs/canvas.md, "Frame and view"). */
const ORIGIN = { x: 0, y: 0 };

/**
 * The frame shown is the studio's (moved live, written to the document when a drag ends);
 * a restore, and its undo and redo, change the document's: the shown frame follows it.
 */
function followFrame(studio: StudioController, session: DocumentSession): void {
  if (following.has(session)) return;
  following.add(session);
  let last = session.doc.frame ?? ORIGIN;
  session.history.subscribe(() => {
    const frame = session.doc.frame ?? ORIGIN;
    if (frame === last) return;
    last = frame;
    const shown = studio.state.frame;
    if (shown.x !== frame.x || shown.y !== frame.y) studio.store.set({ frame: { x: frame.x, y: frame.y } });
  });
}

/** A library image's own bytes as a PNG data URL (no re-encoding: the part is the same PNG). */
async function libraryPng(sha256: string): Promise<string> {
  const response = await fetch(libraryImageUrl(sha256));
  if (!response.ok) throw new Error(`image ${sha256.slice(0, 12)}: ${response.status}`);
  return pngToDataUrl(new Uint8Array(await response.arrayBuffer()));
}

/**
 * Restores a node of the iteration tree as a new branch: the whole layer stack, masks,
 * controls, region boxes, canvas and frame as they were when it ran (one undo step: undo
 * brings the current document back, redo the restored one), and its settings in the panel.
 * A generation without a kept document (older ones) gets its inputs back instead (recall.ts).
 */
export async function restoreBranch(studio: StudioController, session: DocumentSession, generationId: string): Promise<'document' | 'inputs' | undefined> {
  await storing.get(generationId);
  let kept: (StoredSnapshot & { snapshot: DocumentSnapshot }) | null;
  try {
    kept = await studio.api.call('library.snapshot', { id: generationId });
    if (!kept) {
      // Variations re-run their parent's inputs, not the canvas: the parent's document is theirs.
      const record = await studio.api.call('library.get', { id: generationId });
      if (record.request?.variation && record.parentCandidateId) {
        // A parent from another library (a project made elsewhere): then its inputs come back instead.
        kept = await studio.api.call('library.snapshot', { id: record.parentCandidateId }).catch(() => null);
      }
    }
  } catch (error) {
    studio.toast('error', `Restore failed: ${errorMessage(error)}`);
    return undefined;
  }
  if (!kept) {
    studio.toast('info', 'This step has no saved canvas (made before branches were kept): its settings and inputs come back instead');
    return (await recallEntry(studio, session, generationId)) ? 'inputs' : undefined;
  }
  const { snapshot, parts } = kept;
  try {
    // Parts the session lost (a reopened project) come back from the library under their own name.
    for (const [part, sha] of Object.entries(parts)) {
      if (!session.assets[part]) session.restoreAsset(part, await libraryPng(sha));
      inLibrary.set(part, sha);
    }
    const { request } = await studio.api.call('library.recall', { id: generationId });
    studio.updateSettings(settingsFromRequest(studio.state.settings, request));
    generationMode.set({ choice: request.inpaint ? 'inpaint' : request.init ? 'canvas' : 'sketch' });
  } catch (error) {
    studio.toast('error', `Restore could not bring the step back: ${errorMessage(error)}`);
    return undefined;
  }
  followFrame(studio, session);
  session.history.change((doc) => ({ ...doc, canvas: snapshot.canvas, layers: snapshot.layers, frame: snapshot.frame }), 'Restore branch');
  studio.store.set({ view: 'canvas' });
  const top = [...snapshot.layers].reverse().find((l) => l.kind === 'sketch' || l.kind === 'paint');
  session.history.select(top ? [top.id] : []);
  return 'document';
}
