import path from 'node:path';

// How a project file arrives from the OS: a double-clicked .atelier file comes as argv on
// Windows and Linux (first launch, or a second launch forwarded by the single-instance
// lock) and as 'open-file' on macOS. The recent-projects list itself belongs to the
// projects area (StudioApi `projects.recent`); the menu only shows it.

export const PROJECT_EXTENSION = '.atelier';

/** At most this many projects under File ▸ Open Recent. */
export const MAX_RECENT_MENU_ITEMS = 10;

export function isProjectPath(candidate: string): boolean {
  return candidate.toLowerCase().endsWith(PROJECT_EXTENSION) && path.isAbsolute(candidate);
}

/**
 * The project file the app was asked to open on the command line: the last argument that
 * names an .atelier file, resolved against the launching process's working directory.
 * Chromium switches (--foo) are skipped; Electron puts the executable (and in development
 * the app folder) first.
 */
export function projectPathFromArgv(argv: readonly string[], workingDirectory: string): string | undefined {
  for (let i = argv.length - 1; i >= 1; i--) {
    const arg = argv[i]!;
    if (arg.startsWith('-')) continue;
    if (arg.toLowerCase().endsWith(PROJECT_EXTENSION)) return path.resolve(workingDirectory, arg);
  }
  return undefined;
}

/** The menu's recent projects from `projects.recent`: those still on disk, newest first. */
export function recentProjectsForMenu(recent: ReadonlyArray<{ path: string; exists: boolean }>): string[] {
  return recent.filter((r) => r.exists && isProjectPath(r.path)).map((r) => r.path).slice(0, MAX_RECENT_MENU_ITEMS);
}
