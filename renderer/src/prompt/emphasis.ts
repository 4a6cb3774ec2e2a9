// Prompt emphasis syntax as the Stable Diffusion web UI (AUTOMATIC1111) reads it, for
// highlighting: `(words)` multiplies attention by 1.1, `[words]` divides it by 1.1,
// `(words:1.5)` sets it, `\(` is a literal bracket. Source: modules/prompt_parser.py,
// parse_prompt_attention (round_bracket_multiplier = 1.1, square_bracket_multiplier = 1/1.1).

import { countPromptPhrases } from '../../../app/contract/prompts.js';

export type EmphasisKind = 'text' | 'bracket' | 'weight' | 'unmatched';

export interface EmphasisSpan {
  start: number;
  end: number;
  kind: EmphasisKind;
  /** Effective attention multiplier of the text (1 = neutral). */
  weight: number;
}

const ROUND = 1.1;
const SQUARE = 1 / 1.1;

interface Open {
  char: '(' | '[';
  index: number;
}

/**
 * Splits a prompt into spans covering every character, each with its effective weight.
 * Brackets that never close (or close without opening) are marked `unmatched` — A1111
 * still applies an unclosed bracket to the rest of the prompt, and so do we.
 */
export function parseEmphasis(prompt: string): EmphasisSpan[] {
  // First pass: match brackets, and find `:number)` explicit weights.
  const closing = new Map<number, number>();
  const explicit = new Map<number, { colon: number; weight: number }>();
  const unmatched = new Set<number>();
  const stack: Open[] = [];
  for (let i = 0; i < prompt.length; i++) {
    const c = prompt[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '(' || c === '[') stack.push({ char: c, index: i });
    else if (c === ')' || c === ']') {
      const want = c === ')' ? '(' : '[';
      const top = stack[stack.length - 1];
      if (top && top.char === want) {
        stack.pop();
        closing.set(top.index, i);
        if (c === ')') {
          const m = /:\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*$/.exec(prompt.slice(top.index + 1, i));
          if (m) explicit.set(top.index, { colon: top.index + 1 + m.index, weight: Number(m[1]) });
        }
      } else unmatched.add(i);
    }
  }
  for (const open of stack) unmatched.add(open.index);

  // Second pass: walk again with a weight stack and emit spans.
  const spans: EmphasisSpan[] = [];
  const push = (start: number, end: number, kind: EmphasisKind, weight: number) => {
    if (end <= start) return;
    const last = spans[spans.length - 1];
    if (last && last.kind === kind && last.weight === weight && last.end === start && kind === 'text') last.end = end;
    else spans.push({ start, end, kind, weight });
  };
  const weights: number[] = [1];
  const ends: Array<{ close: number; colon?: number }> = [];
  let i = 0;
  while (i < prompt.length) {
    const current = weights[weights.length - 1] ?? 1;
    const frame = ends[ends.length - 1];
    if (frame?.colon !== undefined && i === frame.colon) {
      push(i, frame.close, 'weight', current);
      i = frame.close;
      continue;
    }
    const c = prompt[i];
    if (c === '\\') {
      push(i, Math.min(prompt.length, i + 2), 'text', current);
      i += 2;
      continue;
    }
    if (unmatched.has(i)) {
      push(i, i + 1, 'unmatched', current);
      // A1111 applies an unclosed opener to everything after it.
      if (c === '(' || c === '[') weights.push(current * (c === '(' ? ROUND : SQUARE));
      i++;
      continue;
    }
    if ((c === '(' || c === '[') && closing.has(i)) {
      const close = closing.get(i) as number;
      const ex = explicit.get(i);
      const next = ex ? current * ex.weight : current * (c === '(' ? ROUND : SQUARE);
      push(i, i + 1, 'bracket', next);
      weights.push(next);
      ends.push(ex ? { close, colon: ex.colon } : { close });
      i++;
      continue;
    }
    if (frame && i === frame.close) {
      push(i, i + 1, 'bracket', current);
      weights.pop();
      ends.pop();
      i++;
      continue;
    }
    push(i, i + 1, 'text', current);
    i++;
  }
  return spans;
}

/** The word being typed at `caret` (for autocomplete): letters, digits, _ and - back to a separator. */
export function wordAt(prompt: string, caret: number): { start: number; word: string } {
  let start = caret;
  while (start > 0 && /[\p{L}\p{N}_-]/u.test(prompt[start - 1] ?? '')) start--;
  return { start, word: prompt.slice(start, caret) };
}

/**
 * Autocomplete: comma-separated phrases from earlier prompts that start with the word being
 * typed, most frequent first.
 */
export function suggestPhrases(history: readonly string[], word: string, limit = 8): string[] {
  if (word.trim().length < 2) return [];
  return countPromptPhrases(history, word, limit).map((p) => p.phrase);
}

/**
 * Autocomplete from both sources: this browser's own recent prompts first (what the artist
 * just typed), then the library's phrases (library.promptPhrases, every recorded prompt),
 * without repeating a phrase that differs only in case.
 */
export function mergeSuggestions(local: readonly string[], library: readonly string[], limit = 8): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const phrase of [...local, ...library]) {
    const key = phrase.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(phrase);
    if (out.length === limit) break;
  }
  return out;
}
