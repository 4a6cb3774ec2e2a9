import fs from 'node:fs/promises';
import { Buffer } from 'node:buffer';
import type { projectsMethods } from '../contract/index.js';
import type { Library } from '../library/index.js';
import { type LibraryImages, ProjectsService } from '../projects/session.js';
import type { AreaHandlers, ServiceContext } from './context.js';
import { assertWritableTarget } from './paths.js';
import { APP_VERSION } from './version.js';

/**
 * The projects area: the service keeps each open project's document for saving, autosave and
 * recovery; the UI keeps the editing state (app/projects/document History) and hands it over.
 */
/**
 * The library's content-addressed images for the projects code, which does not import the
 * library: documents name candidates by SHA-256, and saving copies their bytes from here.
 */
export function libraryImages(library: Pick<Library, 'hasImage' | 'imagePath' | 'storeImage' | 'insertImage'>): LibraryImages {
  return {
    async read(sha256) {
      if (!library.hasImage(sha256)) return null;
      try {
        return await fs.readFile(library.imagePath(sha256));
      } catch (error) {
        // A row whose file went (deleted by another process since): the library does not hold it.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    async add(png) {
      // A row beside the file, so the media routes serve it (they answer only for known images).
      // No candidate refers to it: `atelier history gc` may collect it once the project is
      // closed, and the next open of the file files it again.
      const stored = await library.storeImage(Buffer.from(png.buffer, png.byteOffset, png.byteLength));
      library.insertImage(stored);
      return stored.sha256;
    },
  };
}

export function projectsArea(ctx: ServiceContext, options: { autosaveSeconds?: number; images?: LibraryImages } = {}): {
  handlers: AreaHandlers<typeof projectsMethods>;
  close: () => Promise<void>;
} {
  const envSeconds = Number(process.env.ATELIER_AUTOSAVE_SECONDS);
  const projects = new ProjectsService({
    home: ctx.home,
    appVersion: APP_VERSION,
    // The CLI runs one command and exits: nothing to autosave.
    autosaveSeconds: options.autosaveSeconds ?? (ctx.transport === 'cli' ? 0 : Number.isFinite(envSeconds) && envSeconds >= 0 ? envSeconds : 30),
    onAutosaved: (sessionId, savedAt) => ctx.emit({ type: 'project.autosaved', sessionId, savedAt }),
    ...(options.images ? { images: options.images } : {}),
  });
  const handlers: AreaHandlers<typeof projectsMethods> = {
    'projects.new': (p) => projects.create(p),
    'projects.open': (p) => projects.openFile(p.path),
    'projects.update': (p) => projects.update(p.sessionId, p.document, p.assets),
    'projects.save': async (p) => {
      const saved = await projects.save(p.sessionId, p);
      ctx.emit({ type: 'project.saved', sessionId: p.sessionId, ...saved });
      return saved;
    },
    'projects.saveAs': async (p) => {
      const saved = await projects.save(p.sessionId, p, await assertWritableTarget(p.path));
      ctx.emit({ type: 'project.saved', sessionId: p.sessionId, ...saved });
      return saved;
    },
    'projects.close': async (p) => ({ closed: await projects.close(p.sessionId) }),
    // The target is checked before anything is rendered: /proc, /sys, devices and FIFOs are
    // refused at once instead of failing late or hanging (issue 17, app/service/paths.ts).
    'projects.export': async (p) => projects.export({ ...p, out: await assertWritableTarget(p.out) }),
    'projects.importLayers': async (p) => {
      const { canvas, layers, assets } = await projects.importLayers(p.path, p.kind);
      return { canvas, layers, assets: { ...assets } };
    },
    'projects.info': (p) => projects.info(p.path),
    'projects.recent': () => projects.recent(),
    'projects.recoveries': () => projects.recoveries(),
    'projects.recover': (p) => projects.recover(p.recoveryId),
    'projects.discardRecovery': async (p) => ({ discarded: await projects.discardRecovery(p.recoveryId) }),
  };
  return { handlers, close: () => projects.shutdown() };
}
