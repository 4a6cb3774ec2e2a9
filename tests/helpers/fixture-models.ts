import path from 'node:path';
import { afterAll } from 'vitest';
import { loadModel, type LoadedModel } from '../../app/engine/index.js';

// The committed tiny models (tests/fixtures/make_fixtures.py and friends), loaded on the CPU
// once per test file and released after it: the set-up every engine test file shares.

export const FIXTURES = path.resolve('tests/fixtures/models');
export const fixture = (name: string): string => path.join(FIXTURES, name);

/** A loader that keeps each model folder open for the rest of the file (call at module level). */
export function fixtureModels(): (dir: string) => Promise<LoadedModel> {
  const models = new Map<string, LoadedModel>();
  afterAll(async () => {
    for (const m of models.values()) await m.release();
  });
  return async (dir) => {
    let m = models.get(dir);
    if (!m) {
      m = await loadModel(dir, { device: 'cpu' });
      models.set(dir, m);
    }
    return m;
  };
}
