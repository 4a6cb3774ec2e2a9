import { useSyncExternalStore } from 'react';
import type { ProjectDocument } from '../../../app/projects/document/index.js';
import type { DocumentSession } from './document.js';

export function useDocument(session: DocumentSession): ProjectDocument {
  return useSyncExternalStore(session.history.subscribe, () => session.history.document);
}

export function useSelection(session: DocumentSession): readonly string[] {
  return useSyncExternalStore(session.history.subscribe, () => session.history.selection);
}

/** Undo/redo availability and labels, as one string so the snapshot is stable. */
export function useUndoState(session: DocumentSession): { canUndo: boolean; canRedo: boolean; dirty: boolean } {
  const key = useSyncExternalStore(session.history.subscribe, () => {
    const h = session.history;
    return `${h.canUndo ? 1 : 0}${h.canRedo ? 1 : 0}${h.dirty ? 1 : 0}`;
  });
  return { canUndo: key[0] === '1', canRedo: key[1] === '1', dirty: key[2] === '1' };
}
