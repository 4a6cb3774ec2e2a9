import { describe, expect, it } from 'vitest';
import { type KeyValueStorage, LocalPersistence, withPrompt } from '../../renderer/src/state/persistence.js';

function memory(initial: Record<string, string> = {}): KeyValueStorage & { data: Record<string, string> } {
  const data = { ...initial };
  return { data, getItem: (k) => data[k] ?? null, setItem: (k, v) => void (data[k] = v) };
}

describe('presets and prompt history in the browser', () => {
  it('round-trips presets, keeping only the settings fields that fit today', () => {
    const storage = memory({
      // A preset from before settings had one shape: an old field, a bad value, a good one.
      'atelier.presets': JSON.stringify([{ name: 'old', settings: { prompt: 'a lake', steps: 0, randomSeed: true, seedPolicy: 'increment', cfg: 4 } }, { name: '' }, 'junk']),
    });
    const persistence = new LocalPersistence(storage);
    expect(persistence.loadPresets()).toEqual([{ name: 'old', settings: { prompt: 'a lake', seedPolicy: 'increment', cfg: 4 } }]);
    persistence.savePresets([{ name: 'new', settings: { steps: 30 } }]);
    expect(new LocalPersistence(storage).loadPresets()).toEqual([{ name: 'new', settings: { steps: 30 } }]);
  });

  it('starts empty when storage is missing, broken or refuses', () => {
    expect(new LocalPersistence(undefined).loadPresets()).toEqual([]);
    expect(new LocalPersistence(memory({ 'atelier.prompts': '{not json' })).loadPrompts()).toEqual([]);
    const refusing: KeyValueStorage = { getItem: () => { throw new Error('denied'); }, setItem: () => { throw new Error('full'); } };
    const persistence = new LocalPersistence(refusing);
    expect(persistence.loadPrompts()).toEqual([]);
    expect(() => persistence.savePrompts(['x'])).not.toThrow();
  });

  it('keeps prompts newest first without repeats or blanks', () => {
    expect(withPrompt(['b', 'a'], 'a')).toEqual(['a', 'b']);
    expect(withPrompt(['a'], '  ')).toEqual(['a']);
    expect(withPrompt(Array.from({ length: 200 }, (_, i) => `p${i}`), 'new')).toHaveLength(200);
    const storage = memory();
    new LocalPersistence(storage).savePrompts(['x', 'y']);
    expect(new LocalPersistence(storage).loadPrompts()).toEqual(['x', 'y']);
  });
});
