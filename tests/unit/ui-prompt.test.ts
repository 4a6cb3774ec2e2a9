import { describe, expect, it } from 'vitest';
import { mergeSuggestions, parseEmphasis, suggestPhrases, wordAt } from '../../renderer/src/prompt/emphasis.js';
import { randomSeed, seedAfterRun, seedForRun } from '../../renderer/src/prompt/seeds.js';

/** The weight of the text span containing `needle`. */
function weightOf(prompt: string, needle: string): number {
  const at = prompt.indexOf(needle);
  const span = parseEmphasis(prompt).find((s) => s.kind === 'text' && s.start <= at && s.end > at);
  if (!span) throw new Error(`no text span at ${needle}`);
  return span.weight;
}

describe('prompt emphasis (A1111 syntax)', () => {
  it('covers every character exactly once', () => {
    const prompt = 'a (red:1.3) barn, [fog], ((sunset)) \\(literal\\)';
    const spans = parseEmphasis(prompt);
    let pos = 0;
    for (const s of spans) {
      expect(s.start).toBe(pos);
      pos = s.end;
    }
    expect(pos).toBe(prompt.length);
  });

  it('weights round, square, nested and explicit brackets like parse_prompt_attention', () => {
    const p = 'a (red:1.3) barn, [fog], ((sunset)), ([mix])';
    expect(weightOf(p, 'a ')).toBe(1);
    expect(weightOf(p, 'red')).toBeCloseTo(1.3, 10);
    expect(weightOf(p, 'barn')).toBe(1);
    expect(weightOf(p, 'fog')).toBeCloseTo(1 / 1.1, 10);
    expect(weightOf(p, 'sunset')).toBeCloseTo(1.21, 10);
    expect(weightOf(p, 'mix')).toBeCloseTo(1, 10);
  });

  it('marks the explicit weight and leaves escaped brackets as text', () => {
    const p = '(sky:0.5) \\(not\\)';
    const spans = parseEmphasis(p);
    expect(spans.some((s) => s.kind === 'weight' && p.slice(s.start, s.end) === ':0.5')).toBe(true);
    expect(weightOf(p, 'not')).toBe(1);
  });

  it('flags unmatched brackets and, like A1111, applies an unclosed one to the rest', () => {
    const p = 'a (tree and ] house';
    const spans = parseEmphasis(p);
    const unmatched = spans.filter((s) => s.kind === 'unmatched').map((s) => p.slice(s.start, s.end));
    expect(unmatched).toEqual(['(', ']']);
    expect(weightOf(p, 'house')).toBeCloseTo(1.1, 10);
  });

  it('finds the word at the caret and suggests phrases from history, most frequent first', () => {
    expect(wordAt('a red ba', 8)).toEqual({ start: 6, word: 'ba' });
    const history = ['a red barn, sunset sky', 'barn owl, (sunset sky:1.2)', 'sunset sky, lake'];
    expect(suggestPhrases(history, 'sun')).toEqual(['sunset sky']);
    expect(suggestPhrases(history, 'ba')).toEqual(['barn owl']);
    expect(suggestPhrases(history, 'b')).toEqual([]);
  });
});

describe('seed policy', () => {
  it('random draws a fresh 32-bit seed, fixed and increment keep the field', () => {
    expect(seedForRun('random', 7, () => 0.5)).toBe(2 ** 31);
    expect(seedForRun('fixed', 7)).toBe(7);
    expect(seedForRun('increment', 7)).toBe(7);
    expect(randomSeed(() => 0.999999999999)).toBeLessThanOrEqual(0xffffffff);
  });

  it('increment moves past the whole batch (candidate k used seed + k)', () => {
    expect(seedAfterRun('increment', 10, 4)).toBe(14);
    expect(seedAfterRun('fixed', 10, 4)).toBe(10);
  });
});

describe('autocomplete from this browser and the library', () => {
  it('puts local phrases first, then library ones, without case-only repeats, up to the limit', () => {
    expect(mergeSuggestions(['sunset sky'], ['Sunset sky', 'sunlit rocks', 'sunset glow'])).toEqual(['sunset sky', 'sunlit rocks', 'sunset glow']);
    expect(mergeSuggestions([], ['a', 'b', 'c'], 2)).toEqual(['a', 'b']);
    expect(mergeSuggestions(['x'], [])).toEqual(['x']);
  });
});
