import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiError } from '../../contract/errors.js';
import { parseEmphasis } from './emphasis.js';

export { parseEmphasis, type EmphasisPiece } from './emphasis.js';

/** Special tokens; names as in a Hugging Face `special_tokens_map.json`. */
export interface ClipSpecialTokens {
  bos?: string;
  eos?: string;
  pad?: string;
  unk?: string;
  /** Text-encoder sequence length (`model_max_length`), 77 for CLIP. */
  maxLength?: number;
  /** Added tokens (added_tokens.json; textual-inversion vectors, docs/models.md): kept whole in the text like the specials. */
  added?: string[];
}

export interface WeightedChunk {
  /** maxLength ids: bos, up to 75 prompt tokens, eos, then pad. */
  ids: number[];
  /** One emphasis multiplier per id (1 for bos/eos/pad). */
  weights: number[];
}

/** Hugging Face's CLIPTokenizer reads at most this many merges (49152 − 256 bytes − 2 specials). */
const MAX_MERGES = 49152 - 256 - 2;

/** A1111's `comma_padding_backtrack` default: move up to 20 trailing tokens after a comma to the next chunk. */
const COMMA_BACKTRACK = 20;

/**
 * CLIP's pre-tokenizer (openai/CLIP simple_tokenizer.py): specials, English contractions,
 * letter runs, single digits, runs of anything else but whitespace. Whitespace is Python's
 * `str.isspace` set, as `re`'s \s is in CLIP's Python code (JS's \s differs in a few code points).
 */
const WS = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PRE_TOKEN = new RegExp(`<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${WS}\\p{L}\\p{N}]+`, 'giu');
const WHITESPACE_RUN = new RegExp(`[${WS}]+`, 'gu');
const SPECIALS = new Set(['<|startoftext|>', '<|endoftext|>']);

/** GPT-2's byte → printable character table (openai/gpt-2 src/encoder.py `bytes_to_unicode`). */
function bytesToUnicode(): string[] {
  const table: string[] = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : 256 + extra++);
  }
  return table;
}
const BYTE_CHARS = bytesToUnicode();
const utf8 = new TextEncoder();

/**
 * The CLIP byte-level BPE tokenizer of Stable Diffusion's text encoders, as Hugging Face's
 * CLIPTokenizer runs it without ftfy: NFC, whitespace collapsed, lower case, CLIP's
 * pre-tokenizer, GPT-2 byte table, `</w>` on a word's last symbol, lowest-rank merges first.
 */
export class ClipTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly unkId: number | undefined;
  readonly maxLength: number;
  /** Id of ",</w>", for A1111's chunk boundaries, if the vocabulary has it. */
  readonly commaId: number | undefined;
  private readonly vocab: Map<string, number>;
  private readonly ranks: Map<string, number>;
  private readonly cache = new Map<string, number[]>();
  /** bos/eos/pad/unk strings, longest first, for splitting them out of raw text. */
  private readonly specialTexts: string[];

  private constructor(vocab: Map<string, number>, merges: string[], special: ClipSpecialTokens) {
    this.vocab = vocab;
    this.ranks = new Map();
    merges.slice(0, MAX_MERGES).forEach((m, i) => {
      const parts = m.split(' ');
      if (parts.length !== 2 || !parts[0] || !parts[1]) throw new ApiError('invalid_model', `tokenizer/merges.txt: line ${i + 1} is not a pair of symbols: ${JSON.stringify(m)}`);
      if (!this.ranks.has(m)) this.ranks.set(m, i);
    });
    const id = (role: string, token: string): number => {
      const v = vocab.get(token);
      if (v === undefined) throw new ApiError('invalid_model', `tokenizer: the ${role} token ${JSON.stringify(token)} is not in vocab.json`);
      return v;
    };
    this.bosId = id('bos', special.bos ?? '<|startoftext|>');
    this.eosId = id('eos', special.eos ?? '<|endoftext|>');
    this.padId = special.pad === undefined ? this.eosId : id('pad', special.pad);
    this.unkId = special.unk === undefined ? undefined : id('unk', special.unk);
    this.maxLength = special.maxLength ?? 77;
    if (!Number.isInteger(this.maxLength) || this.maxLength < 3) throw new ApiError('invalid_model', `tokenizer: model_max_length ${this.maxLength} is too small`);
    this.commaId = vocab.get(',</w>');
    const texts = [special.bos ?? '<|startoftext|>', special.eos ?? '<|endoftext|>', special.pad, special.unk, ...(special.added ?? [])];
    for (const t of special.added ?? []) id('added', t);
    this.specialTexts = [...new Set(texts.filter((t): t is string => !!t))].sort((a, b) => b.length - a.length);
    this.seedSpecials();
  }

  /** CLIP keeps its two specials whole when they appear in the text. */
  private seedSpecials(): void {
    for (const s of SPECIALS) {
      const v = this.vocab.get(s);
      if (v !== undefined) this.cache.set(s, [v]);
    }
  }

  static fromData(vocab: Record<string, number>, merges: string[], special: ClipSpecialTokens = {}): ClipTokenizer {
    const map = new Map<string, number>();
    for (const [token, id] of Object.entries(vocab)) {
      if (!Number.isInteger(id) || id < 0) throw new ApiError('invalid_model', `tokenizer/vocab.json: id of ${JSON.stringify(token)} is not a whole number`);
      map.set(token, id);
    }
    return new ClipTokenizer(map, merges, special);
  }

  /**
   * A Hugging Face tokenizer folder: vocab.json, merges.txt ("#version" header optional), and
   * special tokens from tokenizer_config.json overridden by special_tokens_map.json (plain
   * strings or AddedToken objects), as transformers resolves them.
   */
  static async fromFolder(dir: string): Promise<ClipTokenizer> {
    const read = async (name: string, required: boolean): Promise<string | undefined> => {
      try {
        return await readFile(join(dir, name), 'utf8');
      } catch (e) {
        if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new ApiError('invalid_model', `tokenizer/${name}: ${(e as Error).message}`);
      }
    };
    const parse = (name: string, text: string): Record<string, unknown> => {
      try {
        const v: unknown = JSON.parse(text);
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
      } catch {
        // reported below
      }
      throw new ApiError('invalid_model', `tokenizer/${name} is not a JSON object`);
    };
    const vocab = parse('vocab.json', (await read('vocab.json', true))!) as Record<string, number>;
    let lines = (await read('merges.txt', true))!.replace(/\r\n/g, '\n').split('\n');
    if (lines[0]?.startsWith('#version')) lines = lines.slice(1);
    lines = lines.filter((l) => l.length > 0);
    const special: ClipSpecialTokens = {};
    for (const name of ['tokenizer_config.json', 'special_tokens_map.json']) {
      const text = await read(name, false);
      if (text === undefined) continue;
      const json = parse(name, text);
      const token = (key: string): string | undefined => {
        const v = json[key];
        if (typeof v === 'string') return v;
        if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
        return undefined;
      };
      special.bos = token('bos_token') ?? special.bos;
      special.eos = token('eos_token') ?? special.eos;
      special.pad = token('pad_token') ?? special.pad;
      special.unk = token('unk_token') ?? special.unk;
      // transformers writes a huge sentinel when the length is unknown; CLIP's is 77.
      const max = json.model_max_length;
      if (typeof max === 'number' && Number.isInteger(max) && max < 1e6) special.maxLength = max;
    }
    // Hugging Face's added_tokens.json: token → id, beyond the BPE vocabulary.
    const addedText = await read('added_tokens.json', false);
    if (addedText !== undefined) {
      const added = parse('added_tokens.json', addedText);
      for (const [token, id] of Object.entries(added)) vocab[token] = id as number;
      special.added = Object.keys(added);
    }
    return ClipTokenizer.fromData(vocab, lines, special);
  }

  /**
   * BPE ids of `text`, without bos/eos, untruncated. The folder's special tokens are cut out
   * of the raw text first, as Hugging Face's CLIPTokenizer does with its added tokens (longest
   * first, case-sensitive): SD 2's pad token "!" typed in a prompt becomes the pad id, which is
   * what diffusers feeds its text encoder.
   */
  tokenize(text: string): number[] {
    const ids: number[] = [];
    let start = 0;
    for (let i = 0; i < text.length; ) {
      const hit = this.specialTexts.find((s) => text.startsWith(s, i));
      if (hit === undefined) {
        i++;
        continue;
      }
      if (i > start) this.tokenizePlain(text.slice(start, i), ids);
      ids.push(this.vocab.get(hit)!);
      i += hit.length;
      start = i;
    }
    if (start < text.length) this.tokenizePlain(text.slice(start), ids);
    return ids;
  }

  private tokenizePlain(text: string, ids: number[]): void {
    const cleaned = text.normalize('NFC').replace(WHITESPACE_RUN, ' ').trim().toLowerCase();
    for (const m of cleaned.matchAll(PRE_TOKEN)) {
      const word = m[0];
      let cached = this.cache.get(word);
      if (cached === undefined) {
        let symbols = '';
        for (const b of utf8.encode(word)) symbols += BYTE_CHARS[b]!;
        cached = this.bpe(symbols);
        // Prompts reuse a small vocabulary of words; the bound only guards a long-lived worker.
        if (this.cache.size > 100_000) {
          this.cache.clear();
          this.seedSpecials();
        }
        this.cache.set(word, cached);
      }
      for (const id of cached) ids.push(id);
    }
  }

  /** `[bos] + ids + [eos]`, ids truncated so that eos stays last, padded to maxLength with pad. */
  encode(text: string): number[] {
    const ids = this.tokenize(text).slice(0, this.maxLength - 2);
    const out = [this.bosId, ...ids, this.eosId];
    while (out.length < this.maxLength) out.push(this.padId);
    return out;
  }

  /**
   * A1111 prompt handling (stable-diffusion-webui modules/sd_hijack_clip.py, `tokenize_line`):
   * emphasis weights per token, BREAK, and chunks of maxLength − 2 = 75 tokens, each wrapped
   * as bos … eos and padded. When a chunk fills up and a comma lies within the last 20 tokens,
   * the tokens after that comma move to the next chunk so phrases are not cut in half. A1111
   * pads with eos and then replaces everything after the first eos with the pad token, which
   * is what this returns (identical to eos padding where pad = eos, as in SD 1.x).
   */
  encodeWeighted(prompt: string): { chunks: WeightedChunk[] } {
    const chunkLength = this.maxLength - 2;
    const chunks: WeightedChunk[] = [];
    let tokens: number[] = [];
    let weights: number[] = [];
    let lastComma = -1;
    const nextChunk = () => {
      const fill = chunkLength - tokens.length;
      const ids = [this.bosId, ...tokens, this.eosId];
      const w = [1, ...weights, 1];
      for (let i = 0; i < fill; i++) {
        ids.push(this.padId);
        w.push(1);
      }
      chunks.push({ ids, weights: w });
      tokens = [];
      weights = [];
      lastComma = -1;
    };
    for (const piece of parseEmphasis(prompt)) {
      if (piece.text === 'BREAK' && piece.weight === -1) {
        nextChunk();
        continue;
      }
      for (const token of this.tokenize(piece.text)) {
        if (token === this.commaId) {
          lastComma = tokens.length;
        } else if (tokens.length === chunkLength && lastComma !== -1 && tokens.length - lastComma <= COMMA_BACKTRACK) {
          const moved = tokens.slice(lastComma + 1);
          const movedWeights = weights.slice(lastComma + 1);
          tokens = tokens.slice(0, lastComma + 1);
          weights = weights.slice(0, lastComma + 1);
          nextChunk();
          tokens = moved;
          weights = movedWeights;
        }
        if (tokens.length === chunkLength) nextChunk();
        tokens.push(token);
        weights.push(piece.weight);
      }
    }
    if (tokens.length > 0 || chunks.length === 0) nextChunk();
    return { chunks };
  }

  /** Byte-level BPE of one pre-token (CLIP's `bpe`): merge the lowest-ranked adjacent pair until none applies. */
  private bpe(symbols: string): number[] {
    const chars = Array.from(symbols);
    let word = chars.slice(0, -1);
    word.push(chars[chars.length - 1]! + '</w>');
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < word.length; i++) {
        const r = this.ranks.get(word[i]! + ' ' + word[i + 1]!);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best]!;
      const second = word[best + 1]!;
      // Merge every non-overlapping occurrence, left to right, as CLIP does.
      const merged: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (i + 1 < word.length && word[i] === first && word[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else {
          merged.push(word[i]!);
          i += 1;
        }
      }
      word = merged;
    }
    return word.map((s) => {
      const id = this.vocab.get(s);
      if (id !== undefined) return id;
      if (this.unkId !== undefined) return this.unkId;
      throw new ApiError('invalid_model', `tokenizer: symbol ${JSON.stringify(s)} has no id in vocab.json and there is no unk token`);
    });
  }
}
