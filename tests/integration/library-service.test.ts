import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, type StudioEvent } from '../../app/contract/index.js';
import { type Library, openLibrary } from '../../app/library/index.js';
import { StudioService, libraryHandlers } from '../../app/service/index.js';
import { tempHome } from '../helpers/home.js';

// The library's StudioApi members through the service's untyped door (what HTTP and IPC use).

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/images');
const { home, cleanup } = tempHome('atelier-library-service-');
let service: StudioService;
let library: Library;
const events: StudioEvent[] = [];

beforeAll(() => {
  service = new StudioService({ transport: 'web', home });
  library = openLibrary(home);
  service.register(libraryHandlers(library, { currentModelHash: () => undefined }), () => library.close());
  service.subscribe((e) => events.push(e));
});
afterAll(async () => {
  await service.close();
  cleanup();
});

const call = (method: string, params: unknown) => service.handle({ v: API_VERSION, method, params });

describe('library members of the StudioApi', () => {
  it('imports, announces, searches, rates, tags, recalls and deletes', async () => {
    const imported = await call('library.import', { paths: [path.join(FIXTURES, 'a1111-txt2img.png'), path.join(FIXTURES, 'hostile-bad-crc.png')] });
    expect(imported.ok).toBe(true);
    if (!imported.ok) return;
    const results = (imported.result as { results: Array<{ ok: boolean; generationId?: string; candidateId?: string }> }).results;
    expect(results.map((r) => r.ok)).toEqual([true, false]);
    expect(events).toContainEqual({ type: 'library.changed', change: 'imported', generationIds: [results[0]!.generationId] });

    const found = await call('library.search', { text: 'lighthouse', sort: 'relevance' });
    expect(found).toMatchObject({ ok: true, result: { total: 1 } });

    expect(await call('library.rate', { candidateId: results[0]!.candidateId, rating: 4, favourite: true })).toMatchObject({ ok: true, result: { rating: 4, favourite: true } });
    expect(await call('library.tag', { generationIds: [results[0]!.generationId], add: ['lighthouses'] })).toMatchObject({ ok: true, result: { updated: 1 } });
    expect(await call('library.get', { id: results[0]!.generationId })).toMatchObject({ ok: true, result: { tags: ['lighthouses'], candidates: [{ rating: 4 }] } });
    expect(await call('library.recall', { id: results[0]!.candidateId })).toMatchObject({ ok: true, result: { request: { seed: 1234567890, batch: 1 } } });
    expect(await call('library.lineage', { id: results[0]!.generationId })).toMatchObject({ ok: true, result: { ancestors: [], descendants: [] } });
    expect(await call('library.delete', { ids: [results[0]!.generationId] })).toMatchObject({ ok: true, result: { generations: 1, candidates: 1, files: 2 } });
    expect(events.at(-1)).toMatchObject({ type: 'library.changed', change: 'deleted' });
  });

  it.each([
    ['library.rate', { candidateId: 'c_x', rating: 7 }, 'bad_request'],
    ['library.search', { text: 'x', limit: 100_000 }, 'bad_request'],
    ['library.search', { from: 'yesterday' }, 'bad_request'],
    ['library.get', { id: 'g_missing' }, 'not_found'],
    ['library.recall', { id: 'c_missing' }, 'not_found'],
    ['library.delete', { ids: [] }, 'bad_request'],
    ['library.backup', { file: home }, 'bad_request'],
  ])('%s %j → %s', async (method, params, code) => {
    const response = await call(method, params);
    expect(response).toMatchObject({ ok: false, error: { code } });
  });
});
