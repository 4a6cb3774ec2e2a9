import { createGenerationArea } from './generation-handlers.js';
import { JobJournal } from './job-journal.js';
import { libraryHandlers, openStudioLibrary } from './library-handlers.js';
import { assetsHandlers } from './assets-handlers.js';
import { modelsArea } from './models-handlers.js';
import { libraryImages, projectsArea } from './projects-handlers.js';
import { EngineClient } from '../engine/client.js';
import { ortCacheDir } from '../engine/model/ort-cache.js';
import type { EngineTransportFactory } from '../engine/worker/protocol.js';
import { StudioService, type StudioServiceOptions } from './studio.js';
import { farmBackend, farmOptionsFromEnv, resolveQueueUrl } from './farm/index.js';

export { StudioService, toApiError } from './studio.js';
export type { ServiceContext, Transport } from './context.js';
export { resolveHome } from './home.js';
/** Where the studio, `atelier` and `atelier worker` cache optimised graphs under a home (docs/engine.md). */
export { ortCacheDir } from '../engine/model/ort-cache.js';
export { APP_VERSION } from './version.js';
export { libraryHandlers, openStudioLibrary } from './library-handlers.js';
// What a door needs to host the engine worker itself (the desktop's utilityProcess).
export type { EngineTransportFactory, FromWorker, ToWorker } from '../engine/worker/protocol.js';

/**
 * The studio with every area plugged in: the one place that decides what a door serves.
 * Areas register their handlers (and cleanup) on the service here.
 */
export interface CreateStudioOptions extends StudioServiceOptions {
  /** How the engine worker starts: a forked Node child by default; the desktop app passes a utilityProcess (main/electron/engine-transport.ts). */
  engineTransport?: EngineTransportFactory;
  /** The bundled starter model; an installed desktop app keeps it outside its asar. */
  starterDir?: string;
  /** A render farm's Redis URL (docs/farm.md); default ATELIER_QUEUE, then settings.json's farm.queue; none: the embedded queue and engine. */
  queue?: string;
}

export async function createStudio(options: CreateStudioOptions): Promise<StudioService> {
  const service = new StudioService(options);
  // A farm's URL is checked before anything opens: a bad or open-Redis URL is refused at once.
  const queueUrl = resolveQueueUrl(options.queue, service.ctx.home);
  const backend = queueUrl ? farmBackend(farmOptionsFromEnv(queueUrl, service.ctx.home)) : undefined;
  // Library: the history under <home>/library; other areas record into this instance.
  const library = openStudioLibrary(service.ctx.home);
  // Generation: models, the job queue and the engine worker; finished jobs are recorded in the library.
  const generation = createGenerationArea({
    home: service.ctx.home,
    transport: service.ctx.transport,
    emit: (event) => service.emit(event),
    library,
    ...(options.engineTransport ? { engine: new EngineClient({ transport: options.engineTransport, ortCacheDir: ortCacheDir(service.ctx.home) }) } : {}),
    ...(options.starterDir ? { starterDir: options.starterDir } : {}),
    // With a farm, jobs wait in Redis and run on `atelier worker`s; the local engine stays unused.
    // Without one, the local queue's jobs are journaled so that a crash does not lose them.
    ...(backend ? { backend } : { journal: JobJournal.open(service.ctx.home) }),
  });
  // Recall checks a model's hash as the registry resolves it now (null: not available here).
  const currentModelHash = (model: string): string | null => {
    try {
      return library.modelHash(generation.registry.resolve(model).path);
    } catch {
      return null;
    }
  };
  // Registered first so that it closes last: the other areas write into it.
  service.register(libraryHandlers(library, { currentModelHash }), () => library.close());
  service.setMediaResolver((kind, sha256) => (library.hasImage(sha256) ? (kind === 'image' ? library.imagePath(sha256) : library.thumbnailPath(sha256)) : undefined));
  service.register(generation.handlers, generation.close);
  // The model manager: catalog, imports and Hub downloads as jobs, rename, delete, per-model defaults.
  const models = modelsArea({
    home: service.ctx.home,
    registry: generation.registry,
    emit: (event) => service.emit(event),
    modelHash: (dir) => library.modelHash(dir),
    modelsInUse: () => new Set(generation.queue.list().filter((j) => j.state === 'queued' || j.state === 'running').map((j) => j.request.model)),
  });
  service.register(models.handlers, models.idle);
  // LoRAs, embeddings and VAEs a prompt can use (the prompt panel's chips, picker and autocomplete).
  service.register(assetsHandlers(service.ctx.home));
  // Projects: open documents, safe saving, autosave and crash recovery, exports and imports.
  // Documents refer to candidates by hash: the projects area reads and files them in this library.
  const projects = projectsArea(service.ctx, { images: libraryImages(library) });
  service.register(projects.handlers, projects.close);
  return service;
}
