import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ApiError } from '../contract/errors.js';
import type { ExportFormat, OpenedProject, ProjectDocument, ProjectInfo, RecoveryEntry } from '../contract/projects.js';
import { PART_PATTERN } from '../contract/projects.js';
import { type ProjectAssets, createDocument, diff, libraryImageKey, libraryImageSha, referencedImages, referencedParts } from './document/index.js';
import { PROJECT_EXTENSION, encodeProjectFile, readProjectFile } from './atelier-file.js';
import { exportProject } from './export.js';
import { type ImportedLayers, detectSource, importLayers, openAsProject } from './import.js';
import { RecoveryFolder } from './recovery.js';
import { pngBytes, pngDataUrl } from './png-data.js';
import { sweepStrayTempFiles, writeFileAtomic } from './safe-save.js';

/**
 * The library's images as the projects code needs them, handed in by the service (projects do
 * not import the library): documents refer to candidates by content hash, and the service,
 * not the UI, supplies their bytes when it writes a file.
 */
export interface LibraryImages {
  /** The PNG bytes of the library image with this SHA-256, or null when the library does not hold it. */
  read(sha256: string): Promise<Uint8Array | null>;
  /** Files PNG bytes in the library's content-addressed store; resolves to their SHA-256. */
  add(png: Uint8Array): Promise<string>;
}

interface Session {
  id: string;
  path: string | null;
  document: ProjectDocument;
  assets: ProjectAssets;
  /** The document as last saved or opened: dirty = differs from it. */
  savedDocument: ProjectDocument | null;
  /** Bumped by every update; autosave writes only when it moved. */
  revision: number;
  autosavedRevision: number;
  /** The last update in progress: updates apply in the order they arrive, though one may wait on the library. */
  updating: Promise<unknown>;
}

export interface ProjectsOptions {
  home: string;
  appVersion: string;
  /** Seconds between autosaves of dirty projects; 0 turns autosave off. */
  autosaveSeconds?: number;
  onAutosaved?: (sessionId: string, savedAt: string) => void;
  /** Where `{ sha256 }` images come from and go to; without it, documents that use them are refused. */
  images?: LibraryImages;
}

/** What the UI receives: the project's own parts. Library images it shows from the library. */
function partsOnly(assets: ProjectAssets): ProjectAssets {
  return Object.fromEntries(Object.entries(assets).filter(([key]) => PART_PATTERN.test(key)));
}

const MAX_RECENT = 20;

/**
 * Open projects of one studio: their current document and parts (handed over by the UI), safe
 * saving, autosave to the recovery folder while dirty, recent files, exports and imports.
 */
export class ProjectsService {
  private readonly sessions = new Map<string, Session>();
  private readonly recovery: RecoveryFolder;
  private readonly recentFile: string;
  private timer: NodeJS.Timeout | null = null;
  private autosaving: Promise<void> | null = null;

  constructor(private readonly options: ProjectsOptions) {
    this.recovery = new RecoveryFolder(options.home);
    this.recentFile = path.join(options.home, 'recent-projects.json');
    const seconds = options.autosaveSeconds ?? 30;
    if (seconds > 0) {
      this.timer = setInterval(() => void this.autosaveNow(), seconds * 1000);
      this.timer.unref();
    }
  }

  private open(document: ProjectDocument, assets: ProjectAssets, filePath: string | null, source: OpenedProject['source'], migratedFrom: number | null, saved: boolean): OpenedProject {
    const session: Session = { id: randomUUID().replaceAll('-', ''), path: filePath, document, assets, savedDocument: saved ? document : null, revision: 0, autosavedRevision: 0, updating: Promise.resolve() };
    this.sessions.set(session.id, session);
    return { sessionId: session.id, path: filePath, snapshot: { document, assets: partsOnly(assets) }, source, migratedFrom };
  }

  private session(sessionId: string): Session {
    const session = this.sessions.get(sessionId);
    if (!session) throw new ApiError('not_found', `No open project session "${sessionId}"`);
    return session;
  }

  create(params: { name?: string; width: number; height: number; background?: string }): OpenedProject {
    const document = createDocument({ name: params.name, width: params.width, height: params.height, background: params.background });
    return this.open(document, {}, null, 'new', null, false);
  }

  async openFile(file: string): Promise<OpenedProject> {
    const resolved = path.resolve(file);
    // Saves killed mid-write in this folder left temp files: the next open sweeps them.
    await sweepStrayTempFiles(path.dirname(resolved));
    const opened = await openAsProject(resolved);
    await this.shareWithLibrary(opened.assets);
    const isProject = opened.source === 'atelier';
    const migrated = isProject && opened.fileSchemaVersion !== null && opened.fileSchemaVersion < opened.document.schemaVersion ? opened.fileSchemaVersion : null;
    // A migrated file is saved in the new format only when the artist saves: until then it is clean.
    const result = this.open(opened.document, opened.assets, isProject ? resolved : null, opened.source, migrated, isProject);
    if (isProject) await this.addRecent(resolved, opened.document.name);
    return result;
  }

  /**
   * A file opened here may refer to library images this library lacks (made on another
   * machine): the file's copies go into the library, so the UI can show them from there.
   */
  private async shareWithLibrary(assets: ProjectAssets): Promise<void> {
    for (const [key, dataUrl] of Object.entries(assets)) {
      const sha256 = libraryImageSha(key);
      if (sha256 === undefined || !this.options.images) continue;
      if ((await this.options.images.read(sha256)) !== null) continue;
      const stored = await this.options.images.add(pngBytes(dataUrl));
      // The reader checked the hash; a library that files them under another name is a bug.
      if (stored !== sha256) throw new ApiError('internal', `The library filed ${key} as ${stored}`);
    }
  }

  /**
   * Takes the UI's current document and any parts new to the service. Library images the
   * document refers to are copied from the library the first time they appear (the UI never
   * sends them), so saves, autosaves and exports have them even if history deletes them later.
   */
  update(sessionId: string, document: ProjectDocument, assets: ProjectAssets): Promise<{ dirty: boolean }> {
    const session = this.session(sessionId);
    const run = session.updating.then(() => this.applyUpdate(session, document, assets));
    // The next update waits for this one whether it succeeded or not; its caller sees the error.
    session.updating = run.catch(() => undefined);
    return run;
  }

  private async applyUpdate(session: Session, document: ProjectDocument, assets: ProjectAssets): Promise<{ dirty: boolean }> {
    const merged: Record<string, string> = { ...session.assets, ...assets };
    for (const part of referencedParts(document)) {
      if (!Object.hasOwn(merged, part)) throw new ApiError('bad_request', `The document refers to ${part}, which was never sent`);
    }
    for (const sha256 of referencedImages(document)) {
      const key = libraryImageKey(sha256);
      if (Object.hasOwn(merged, key)) continue;
      const bytes = this.options.images ? await this.options.images.read(sha256) : null;
      if (bytes === null) throw new ApiError('not_found', `The document refers to library image ${sha256}, which the library does not hold`);
      merged[key] = pngDataUrl(bytes);
    }
    session.document = document;
    // Parts no longer referenced stay: undo/redo can bring them back without the UI re-sending
    // them. Saves and autosaves write only the referenced ones.
    session.assets = merged;
    session.revision++;
    return { dirty: this.isDirty(session) };
  }

  private isDirty(session: Session): boolean {
    return session.savedDocument === null || diff(session.savedDocument, session.document).length > 0;
  }

  async save(sessionId: string, changes: { document?: ProjectDocument; assets: ProjectAssets }, target?: string): Promise<{ path: string; savedAt: string }> {
    const session = this.session(sessionId);
    if (changes.document) await this.update(sessionId, changes.document, changes.assets);
    const file = target ? path.resolve(target) : session.path;
    if (!file) throw new ApiError('conflict', 'This project has not been saved yet: use save as with a path');
    if (path.extname(file).toLowerCase() !== PROJECT_EXTENSION) throw new ApiError('bad_request', `A project file ends in ${PROJECT_EXTENSION}: ${file}`);
    const savedAt = new Date().toISOString();
    const bytes = await encodeProjectFile(session.document, session.assets, this.options.appVersion, savedAt);
    try {
      await writeFileAtomic(file, bytes);
    } catch (error) {
      throw new ApiError('conflict', `Could not save ${file}: ${(error as Error).message}`);
    }
    session.path = file;
    session.savedDocument = session.document;
    session.autosavedRevision = session.revision;
    // Saved: the recovery copy is no longer newer than the file.
    await this.recovery.remove(session.id);
    await this.addRecent(file, session.document.name);
    return { path: file, savedAt };
  }

  /** A clean close: the recovery copy goes (the artist chose to save or discard). */
  async close(sessionId: string): Promise<boolean> {
    const session = this.sessions.get(sessionId);
    if (!session) return false;
    this.sessions.delete(sessionId);
    await this.recovery.remove(sessionId);
    return true;
  }

  /** Writes every dirty project that changed since its last autosave to the recovery folder. */
  async autosaveNow(): Promise<void> {
    if (this.autosaving) return this.autosaving;
    this.autosaving = (async () => {
      for (const session of this.sessions.values()) {
        if (session.revision === session.autosavedRevision || !this.isDirty(session)) continue;
        const revision = session.revision;
        try {
          const savedAt = await this.recovery.write(session.id, session.document, session.assets, session.path, this.options.appVersion);
          session.autosavedRevision = revision;
          this.options.onAutosaved?.(session.id, savedAt);
        } catch {
          // An autosave that fails (disk full) must not take the studio down; the next tick retries.
        }
      }
    })().finally(() => {
      this.autosaving = null;
    });
    return this.autosaving;
  }

  async recoveries(): Promise<RecoveryEntry[]> {
    // Asked at every start: autosaves killed mid-write left temp files there.
    await sweepStrayTempFiles(this.recovery.dir);
    return this.recovery.list(new Set(this.sessions.keys()));
  }

  async recover(recoveryId: string): Promise<OpenedProject> {
    const available = await this.recoveries();
    if (!available.some((r) => r.recoveryId === recoveryId)) throw new ApiError('not_found', `No recovery "${recoveryId}"`);
    const { document, assets, path: savedTo } = await this.recovery.read(recoveryId);
    await this.shareWithLibrary(assets);
    const opened = this.open(document, assets, savedTo, 'recovery', null, false);
    // Hand the copy over to the new session before dropping the old one, so a second crash
    // right now still leaves it recoverable.
    const session = this.session(opened.sessionId);
    await this.recovery.write(session.id, document, assets, savedTo, this.options.appVersion);
    await this.recovery.remove(recoveryId);
    return opened;
  }

  async discardRecovery(recoveryId: string): Promise<boolean> {
    const available = await this.recoveries();
    if (!available.some((r) => r.recoveryId === recoveryId)) return false;
    return this.recovery.remove(recoveryId);
  }

  async export(params: { sessionId?: string; path?: string; format: ExportFormat; out: string; generationId?: string }): Promise<{ out: string; bytes: number }> {
    let document: ProjectDocument;
    let assets: ProjectAssets;
    if (params.sessionId !== undefined) {
      ({ document, assets } = this.session(params.sessionId));
    } else {
      ({ document, assets } = await readProjectFile(await regularFile(params.path!)));
    }
    const bytes = await exportProject(params.format, document, assets, { appVersion: this.options.appVersion, generationId: params.generationId });
    const out = path.resolve(params.out);
    await fs.mkdir(path.dirname(out), { recursive: true });
    await writeFileAtomic(out, bytes, { backup: false });
    return { out, bytes: bytes.length };
  }

  importLayers(file: string, kind: 'paint' | 'reference'): Promise<ImportedLayers> {
    return importLayers(path.resolve(file), { kind });
  }

  async info(file: string): Promise<ProjectInfo> {
    const resolved = await regularFile(file);
    await refuseOtherFormats(resolved);
    const project = await readProjectFile(resolved);
    const doc = project.document;
    return {
      path: resolved,
      name: doc.name,
      schemaVersion: doc.schemaVersion,
      fileSchemaVersion: project.fileSchemaVersion,
      appVersion: project.appVersion,
      canvas: { width: doc.canvas.width, height: doc.canvas.height },
      layers: [...doc.layers].reverse().map((l) => ({ id: l.id, name: l.name, kind: l.kind, visible: l.visible, opacity: l.opacity })),
      generations: doc.generations.length,
      candidates: doc.generations.reduce((n, g) => n + g.candidates.length, 0),
      parts: Object.keys(project.assets).length,
    };
  }

  async recent(): Promise<Array<{ path: string; name: string; openedAt: string; exists: boolean }>> {
    const list = await this.readRecent();
    return Promise.all(list.map(async (r) => ({ ...r, exists: await fs.stat(r.path).then((s) => s.isFile(), () => false) })));
  }

  private async readRecent(): Promise<Array<{ path: string; name: string; openedAt: string }>> {
    try {
      const raw: unknown = JSON.parse(await fs.readFile(this.recentFile, 'utf8'));
      if (!Array.isArray(raw)) return [];
      return raw
        .filter((r): r is { path: string; name: string; openedAt: string } => typeof r?.path === 'string' && typeof r?.name === 'string' && typeof r?.openedAt === 'string')
        .slice(0, MAX_RECENT);
    } catch {
      return [];
    }
  }

  private async addRecent(file: string, name: string): Promise<void> {
    const list = (await this.readRecent()).filter((r) => r.path !== file);
    list.unshift({ path: file, name, openedAt: new Date().toISOString() });
    await writeFileAtomic(this.recentFile, Buffer.from(JSON.stringify(list.slice(0, MAX_RECENT), null, 2)), { backup: false });
  }

  /**
   * The studio is going away (window closed, server stopped). Projects with unsaved changes get
   * a last autosave and stay recoverable — quitting is not a decision to discard work; only
   * close() (the artist closing the project) is. Saved projects leave nothing behind.
   */
  async shutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.autosaveNow();
    for (const session of [...this.sessions.values()]) {
      if (!this.isDirty(session)) await this.close(session.id);
    }
    this.sessions.clear();
  }
}

/**
 * The absolute path of an existing regular file, or a typed refusal: opening a FIFO or a
 * device for reading blocks until a writer appears, so it is never opened (issue 17).
 */
async function regularFile(file: string): Promise<string> {
  const resolved = path.resolve(file);
  const stat = await fs.stat(resolved).catch((error: NodeJS.ErrnoException) => {
    throw new ApiError('not_found', `Cannot read ${resolved}: ${error.code ?? error.message}`);
  });
  if (!stat.isFile()) throw new ApiError('bad_request', `${resolved} is not a regular file`);
  return resolved;
}

const FORMAT_NAMES = { ora: 'an OpenRaster file', psd: 'a PSD file' } as const;

/**
 * `project info` reads .atelier files only: an .ora or .psd (by name or signature) is named
 * as such, rather than failing later with "no manifest.json" (issue 17).
 */
async function refuseOtherFormats(file: string): Promise<void> {
  const head = Buffer.alloc(4);
  const handle = await fs.open(file, 'r').catch(() => null); // unreadable: readProjectFile says why
  if (!handle) return;
  try {
    await handle.read(head, 0, 4, 0);
  } finally {
    await handle.close();
  }
  const source = detectSource(file, head);
  // A zip under another name may still be a project: the reader decides.
  if (source === 'atelier' || (source === 'image' && head.readUInt32BE(0) === 0x504b0304)) return;
  const kind = source === 'image' ? '' : ` (it is ${FORMAT_NAMES[source]}): open it in the studio to make a project of it`;
  throw new ApiError('invalid_file', `${path.basename(file)} is not an .atelier file${kind}`);
}
