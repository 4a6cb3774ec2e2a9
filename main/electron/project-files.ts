import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

// Recently opened projects for File ▸ Open Recent, newest first, in
// ATELIER_HOME/recent-projects.json; and how a project path arrives from the OS (a
// double-clicked .atelier file: argv on Windows and Linux, 'open-file' on macOS).

export const PROJECT_EXTENSION = '.atelier';
export const MAX_RECENT_PROJECTS = 10;

const RecentProjects = z.object({ version: z.literal(1), projects: z.array(z.string().min(1)).max(100) });

export function recentProjectsFile(home: string): string {
  return path.join(home, 'recent-projects.json');
}

export function isProjectPath(candidate: string): boolean {
  return candidate.toLowerCase().endsWith(PROJECT_EXTENSION) && path.isAbsolute(candidate);
}

export function loadRecentProjects(file: string): string[] {
  try {
    const parsed = RecentProjects.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data.projects.filter(isProjectPath).slice(0, MAX_RECENT_PROJECTS) : [];
  } catch {
    return [];
  }
}

export function saveRecentProjects(file: string, projects: readonly string[]): void {
  const temp = `${file}.${process.pid}.tmp`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(temp, JSON.stringify({ version: 1, projects: projects.slice(0, MAX_RECENT_PROJECTS) }, null, 2));
  fs.renameSync(temp, file);
}

/** `opened` moves to the front; the same file named twice (e.g. differing only in ./ parts) appears once. */
export function withRecentProject(projects: readonly string[], opened: string): string[] {
  const resolved = path.resolve(opened);
  return [resolved, ...projects.filter((p) => path.resolve(p) !== resolved)].slice(0, MAX_RECENT_PROJECTS);
}

/** Drops projects that no longer exist (moved or deleted since), for the menu. */
export function existingProjects(projects: readonly string[], exists: (file: string) => boolean = fs.existsSync): string[] {
  return projects.filter((p) => exists(p));
}

/**
 * The project file the app was asked to open on the command line (first launch, or a second
 * launch forwarded through the single-instance lock): the last argument that names an
 * .atelier file, resolved against the launching process's working directory. Chromium
 * switches (--foo) are skipped; Electron puts the executable (and in development the app
 * folder) first.
 */
export function projectPathFromArgv(argv: readonly string[], workingDirectory: string): string | undefined {
  for (let i = argv.length - 1; i >= 1; i--) {
    const arg = argv[i]!;
    if (arg.startsWith('-')) continue;
    if (arg.toLowerCase().endsWith(PROJECT_EXTENSION)) return path.resolve(workingDirectory, arg);
  }
  return undefined;
}
