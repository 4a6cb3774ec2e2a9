import { openLibrary, recoverLibrary } from '../library/index.js';
import type { RecoveryReport } from '../library/recover.js';

// Maintenance of the history while no studio holds it open: `atelier history check` and
// `history recover`. They cannot go through a running StudioService — opening one runs the
// integrity check that a damaged database fails — so the service offers them as functions.

export interface LibraryCheckReport {
  /** Damage found (SQLite quick_check, foreign keys, the search index, missing files); empty when sound. */
  problems: string[];
  /** Image files and rows that no entry used, now removed. */
  removedFiles: number;
  removedRows: number;
}

/** Checks the history at `home` for damage and removes the files no entry uses. */
export function checkLibrary(home: string): LibraryCheckReport {
  const library = openLibrary(home, { checkIntegrity: false });
  try {
    const problems = library.checkConsistency();
    const gc = library.collectOrphans();
    return { problems, removedFiles: gc.files, removedRows: gc.rows };
  } finally {
    library.close();
  }
}

/** After a failed integrity check: moves the damaged database aside and salvages its entries into a fresh one. */
export function recoverLibraryAt(home: string): RecoveryReport {
  return recoverLibrary(home);
}

export type { RecoveryReport };
