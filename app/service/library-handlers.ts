import fs from 'node:fs';
import path from 'node:path';
import type { libraryMethods } from '../contract/index.js';
import { type Library, LibraryCorruptError, LibraryVersionError, openLibrary } from '../library/index.js';
import { ApiError } from '../contract/errors.js';
import { dataUrlToPng } from '../projects/document/index.js';
import type { AreaHandlers, ServiceContext } from './context.js';

// The library area of the StudioApi: one Library per studio, opened at ctx.home and closed
// with the service. Other areas (generation) get the same instance from openLibraryArea.

export interface LibraryAreaOptions {
  /**
   * The current content hash of a model as a request names it (a folder or a registered
   * id): undefined when it cannot tell, null when the model is not available. Defaults to
   * hashing folders given by path (cached in the library).
   */
  currentModelHash?: (model: string) => string | null | undefined;
}

/** Opens the library at the studio's home, with a clear typed error when it cannot. */
export function openStudioLibrary(home: string): Library {
  try {
    return openLibrary(home);
  } catch (error) {
    if (error instanceof LibraryVersionError || error instanceof LibraryCorruptError) throw new ApiError('conflict', error.message);
    throw error;
  }
}

export function libraryHandlers(library: Library, options: LibraryAreaOptions = {}): AreaHandlers<typeof libraryMethods> {
  const changed = (ctx: ServiceContext, change: 'recorded' | 'imported' | 'updated' | 'deleted', generationIds: string[]): void => {
    if (generationIds.length > 0) ctx.emit({ type: 'library.changed', change, generationIds });
  };
  return {
    'library.search': (params) => library.search(params),
    'library.promptPhrases': (params) => library.promptPhrases(params),
    'library.get': ({ id }) => library.get(id),
    'library.rate': ({ candidateId, ...change }, ctx) => {
      const candidate = library.rate(candidateId, change);
      changed(ctx, 'updated', [candidate.generationId]);
      return candidate;
    },
    'library.tag': ({ generationIds, add, remove }, ctx) => {
      const updated = library.tag(generationIds, add, remove);
      changed(ctx, 'updated', generationIds);
      return { updated };
    },
    'library.delete': ({ ids, withDescendants }, ctx) => {
      const result = library.delete(ids, { withDescendants });
      changed(ctx, 'deleted', ids);
      return result;
    },
    'library.recall': ({ id }) => library.recall(id, options.currentModelHash ? { currentModelHash: options.currentModelHash } : {}),
    'library.lineage': ({ id }) => library.lineage(id),
    'library.import': async ({ paths, projectId }, ctx) => {
      const results = await library.importFiles(paths.map((p) => path.resolve(p)), projectId ? { projectId } : {});
      changed(ctx, 'imported', results.flatMap((r) => (r.generationId ? [r.generationId] : [])));
      return { results };
    },
    'library.export': async ({ id, dir }) => ({ files: await library.exportGeneration(id, path.resolve(dir)) }),
    'library.putSnapshot': ({ generationId, snapshot, parts }) =>
      library.putSnapshot(generationId, snapshot, Object.fromEntries(Object.entries(parts).map(([part, source]) => [part, typeof source === 'string' ? Buffer.from(dataUrlToPng(source)) : source]))),
    'library.snapshot': ({ id }) => library.snapshot(id),
    'library.backup': ({ file }) => {
      if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new ApiError('bad_request', `${file} is a folder; name the backup file`);
      return library.backup(file);
    },
  };
}
