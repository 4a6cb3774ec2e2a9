import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../app/contract/errors.js';
import { ClipTokenizer, parseEmphasis } from '../../app/engine/tokenizer/clip-tokenizer.js';

interface Reference {
  bos: number;
  eos: number;
  pad: number;
  max_length: number;
  cases: Array<{ text: string; ids: number[]; input_ids: number[] }>;
}

// Fixture vocabularies from tests/fixtures/reference/make_tokenizer_fixture.py; reference ids
// from make_tokenizer_reference.py (an independent Python port of OpenAI CLIP's tokenizer).
const folder = (name: string) => fileURLToPath(new URL(`../fixtures/tokenizer/${name}`, import.meta.url));
const reference = (name: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/reference/tokenizer-reference-${name}.json`, import.meta.url), 'utf8')) as Reference;

let sd1: ClipTokenizer;
let sd2: ClipTokenizer;
beforeAll(async () => {
  sd1 = await ClipTokenizer.fromFolder(folder('sd1'));
  sd2 = await ClipTokenizer.fromFolder(folder('sd2'));
});

describe('ClipTokenizer against the Python CLIP port', () => {
  for (const name of ['sd1', 'sd2'] as const) {
    const ref = reference(name);
    it(`${name}: special tokens and length come from the folder (bos ${ref.bos}, eos ${ref.eos}, pad ${ref.pad})`, () => {
      const t = name === 'sd1' ? sd1 : sd2;
      expect([t.bosId, t.eosId, t.padId, t.maxLength]).toEqual([ref.bos, ref.eos, ref.pad, ref.max_length]);
    });
    for (const c of ref.cases) {
      it(`${name}: ${JSON.stringify(c.text.length > 60 ? c.text.slice(0, 60) + '…' : c.text)}`, () => {
        const t = name === 'sd1' ? sd1 : sd2;
        expect(t.tokenize(c.text)).toEqual(c.ids);
        expect(t.encode(c.text)).toEqual(c.input_ids);
      });
    }
  }

  it('splits digits one per token and keeps contractions apart', () => {
    const digits = sd1.tokenize('2024');
    expect(digits).toHaveLength(4);
    expect(sd1.tokenize('0')).toEqual([digits[3]! - 4]); // "0</w>" … "4</w>" are consecutive byte symbols
    expect(sd1.tokenize("it's")).toEqual([...sd1.tokenize('it'), ...sd1.tokenize("'s")]);
  });

  it('treats the folder\'s special tokens in the text as those tokens, as transformers does ("!" is SD 2\'s pad)', () => {
    // transformers 5.17 CLIPTokenizer gave these ids on the fixture folders (crosscheck.py).
    expect(sd2.tokenize('wow!!!').slice(-3)).toEqual([0, 0, 0]);
    expect(sd1.tokenize('wow!!!').slice(-3)).toEqual([0, 0, 256]); // "!", "!", "!</w>"
    expect(sd1.tokenize('a <|endoftext|>b')).toEqual([sd1.tokenize('a')[0], sd1.eosId, sd1.tokenize('b')[0]]);
  });

  it('truncates to 77 with eos kept last', () => {
    const ids = sd1.encode('a '.repeat(200));
    expect(ids).toHaveLength(77);
    expect(ids[0]).toBe(sd1.bosId);
    expect(ids[76]).toBe(sd1.eosId);
    expect(ids.slice(1, 76).every((id) => id === sd1.tokenize('a')[0])).toBe(true);
  });

  it('pads SD 2 style with "!" (id 0) after eos, SD 1 style with eos', () => {
    expect(sd2.encode('a').slice(0, 4)).toEqual([sd2.bosId, sd2.tokenize('a')[0], sd2.eosId, 0]);
    expect(sd1.encode('a').slice(2)).toEqual(new Array(75).fill(sd1.eosId));
  });

  it('fromData builds the same tokenizer, and bad folders fail with invalid_model', async () => {
    const vocab = JSON.parse(readFileSync(`${folder('sd1')}/vocab.json`, 'utf8')) as Record<string, number>;
    const merges = readFileSync(`${folder('sd1')}/merges.txt`, 'utf8').split('\n').slice(1).filter(Boolean);
    const t = ClipTokenizer.fromData(vocab, merges);
    expect(t.encode('a castle on a hill, 🎨')).toEqual(sd1.encode('a castle on a hill, 🎨'));
    expect(() => ClipTokenizer.fromData(vocab, merges, { pad: '<|nope|>' })).toThrow(ApiError);
    await expect(ClipTokenizer.fromFolder(folder('missing'))).rejects.toMatchObject({ code: 'invalid_model' });
  });
});

describe('parseEmphasis (A1111 parse_prompt_attention)', () => {
  const p = (s: string) => parseEmphasis(s).map(({ text, weight }) => [text, weight]);
  it("reproduces A1111's documented examples", () => {
    // The doctests of stable-diffusion-webui modules/prompt_parser.py.
    expect(p('normal text')).toEqual([['normal text', 1.0]]);
    expect(p('an (important) word')).toEqual([['an ', 1.0], ['important', 1.1], [' word', 1.0]]);
    expect(p('(unbalanced')).toEqual([['unbalanced', 1.1]]);
    expect(p('\\(literal\\]')).toEqual([['(literal]', 1.0]]);
    expect(p('(unnecessary)(parens)')).toEqual([['unnecessaryparens', 1.1]]);
    expect(p('a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).')).toEqual([
      ['a ', 1.0],
      ['house', 1.5730000000000004],
      [' ', 1.1],
      ['on', 1.0],
      [' a ', 1.1],
      ['hill', 0.55],
      [', sun, ', 1.1],
      ['sky', 1.4641000000000006],
      ['.', 1.1],
    ]);
  });
  it('nests and scales as documented: (a) ×1.1, ((a)) ×1.21, [a] ÷1.1, [[a]] ÷1.21, (a:1.5)', () => {
    expect(p('(a)')).toEqual([['a', 1.1]]);
    expect(p('((a))')).toEqual([['a', 1.1 * 1.1]]);
    expect(p('[a]')).toEqual([['a', 1 / 1.1]]);
    expect(p('[[a]]')).toEqual([['a', (1 / 1.1) * (1 / 1.1)]]);
    expect(p('(a:1.5) b')).toEqual([['a', 1.5], [' b', 1]]);
    expect(p('(a: 0.25 )')).toEqual([['a', 0.25]]);
    expect(p('(a:-1)')).toEqual([['a', -1]]);
  });
  it('keeps escapes, stray closers and colons as text', () => {
    expect(p('\\(literal\\)')).toEqual([['(literal)', 1]]);
    expect(p('a \\\\ b')).toEqual([['a \\ b', 1]]);
    expect(p('smile) :) ratio 16:9]')).toEqual([['smile) :) ratio 16:9]', 1]]);
    expect(p('[unbalanced')).toEqual([['unbalanced', 1 / 1.1]]);
    expect(p('')).toEqual([['', 1]]);
  });
  it('turns a whole-word BREAK into a marker, but not lower case or inside words', () => {
    expect(p('a cat BREAK a dog')).toEqual([['a cat', 1], ['BREAK', -1], ['a dog', 1]]);
    expect(p('a break BREAKFAST')).toEqual([['a break BREAKFAST', 1]]);
    expect(p('(red BREAK blue)')).toEqual([['red', 1.1], ['BREAK', -1.1], ['blue', 1.1]]);
  });
  it('refuses a weight that is not a number, as A1111 fails on it', () => {
    expect(() => parseEmphasis('(a:1.2.3)')).toThrow(/not a number/);
  });
});

describe('encodeWeighted (A1111 75-token chunks)', () => {
  const a = () => sd1.tokenize('a')[0]!;
  const comma = () => sd1.commaId!;

  it('one chunk of bos, tokens, eos, padding, with weights per token', () => {
    const { chunks } = sd1.encodeWeighted('(a) a');
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.ids.slice(0, 4)).toEqual([sd1.bosId, a(), a(), sd1.eosId]);
    expect(chunks[0]!.weights.slice(0, 4)).toEqual([1, 1.1, 1, 1]);
    expect(chunks[0]!.ids).toHaveLength(77);
    expect(chunks[0]!.weights).toHaveLength(77);
  });

  it('an empty prompt is still one chunk', () => {
    const { chunks } = sd2.encodeWeighted('');
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.ids).toEqual([sd2.bosId, sd2.eosId, ...new Array(75).fill(0)]);
  });

  it('75 tokens fit one chunk; 80 make two', () => {
    expect(sd1.encodeWeighted('a '.repeat(75)).chunks).toHaveLength(1);
    const { chunks } = sd1.encodeWeighted('a '.repeat(80));
    expect(chunks).toHaveLength(2);
    expect(chunks[0]!.ids.slice(1, 76).every((id) => id === a())).toBe(true);
    expect(chunks[1]!.ids.slice(0, 7)).toEqual([sd1.bosId, a(), a(), a(), a(), a(), sd1.eosId]);
  });

  it('moves the words after a comma within the last 20 tokens to the next chunk', () => {
    const { chunks } = sd1.encodeWeighted('a '.repeat(70) + ', ' + 'a '.repeat(10));
    expect(chunks).toHaveLength(2);
    // 70 a + comma stay; the 4 a that followed the comma in the full chunk move on.
    expect(chunks[0]!.ids[71]).toBe(comma());
    expect(chunks[0]!.ids[72]).toBe(sd1.eosId);
    expect(chunks[1]!.ids.slice(0, 12)).toEqual([sd1.bosId, ...new Array(10).fill(a()), sd1.eosId]);
  });

  it('does not backtrack past 20 tokens', () => {
    const { chunks } = sd1.encodeWeighted('a '.repeat(50) + ', ' + 'a '.repeat(30));
    expect(chunks).toHaveLength(2);
    expect(chunks[0]!.ids[51]).toBe(comma());
    expect(chunks[0]!.ids[76]).toBe(sd1.eosId);
    expect(chunks[0]!.ids[75]).toBe(a());
    expect(chunks[1]!.ids.slice(0, 8)).toEqual([sd1.bosId, ...new Array(6).fill(a()), sd1.eosId]);
  });

  it('BREAK starts a new chunk; SD 2 pads after eos with "!"', () => {
    const { chunks } = sd2.encodeWeighted('(a) BREAK a');
    expect(chunks).toHaveLength(2);
    expect(chunks[0]!.ids.slice(0, 4)).toEqual([sd2.bosId, a(), sd2.eosId, 0]);
    expect(chunks[0]!.weights[1]).toBe(1.1);
    expect(chunks[1]!.ids.slice(0, 4)).toEqual([sd2.bosId, a(), sd2.eosId, 0]);
    expect(chunks[1]!.weights[1]).toBe(1);
  });
});
