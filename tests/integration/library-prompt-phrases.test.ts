import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../app/contract/errors.js';
import { GenerationRequest } from '../../app/contract/generation.js';
import { type Library, openLibrary } from '../../app/library/index.js';
import { tempHome } from '../helpers/home.js';

// Prompt autocomplete from the history: library.promptPhrases finds earlier prompts through
// the FTS index and returns their comma-separated phrases that start with the typed prefix.

let cleanup: () => void;
let library: Library;

beforeEach(() => {
  let home: string;
  ({ home, cleanup } = tempHome('atelier-phrases-'));
  library = openLibrary(home);
});
afterEach(() => {
  library.close();
  cleanup();
});

async function record(prompt: string, negativePrompt = '') {
  const request = GenerationRequest.parse({ model: 'starter', prompt, negativePrompt, seed: 1, batch: 1 });
  const data = new Uint8Array(8 * 8 * 4).fill(128);
  await library.recordGeneration({ request, modelName: 'starter', device: 'cpu', appVersion: '0.1.0', candidates: [{ index: 0, seed: 1, image: { width: 8, height: 8, data } }] });
}

describe('library.promptPhrases', () => {
  it('returns recorded phrases starting with the prefix, most frequent first, emphasis dropped', async () => {
    await record('a red barn, sunset sky, (golden hour:1.3)');
    await record('a lighthouse, sunset sky, sunlit rocks');
    await record('a fox, Sunset glow', 'sunburnt, blurry');
    const { phrases } = library.promptPhrases({ prefix: 'sun' });
    expect(phrases).toEqual([
      { phrase: 'sunset sky', count: 2 },
      { phrase: 'sunlit rocks', count: 1 },
      { phrase: 'Sunset glow', count: 1 },
    ]);
    // Negative prompts are not suggested; weights and brackets are stripped.
    expect(library.promptPhrases({ prefix: 'gold' }).phrases).toEqual([{ phrase: 'golden hour', count: 1 }]);
    // A phrase prefix of several words.
    expect(library.promptPhrases({ prefix: 'sunset s' }).phrases).toEqual([{ phrase: 'sunset sky', count: 2 }]);
    expect(library.promptPhrases({ prefix: 'sun', limit: 1 }).phrases).toHaveLength(1);
  });

  it('finds nothing for a prefix no prompt has, or one without a word; refuses a too-short one', async () => {
    await record('a red barn, sunset sky');
    expect(library.promptPhrases({ prefix: 'zebra' }).phrases).toEqual([]);
    expect(library.promptPhrases({ prefix: '"*' }).phrases).toEqual([]);
    expect(() => library.promptPhrases({ prefix: 's' })).toThrow(ApiError);
  });
});
