// The artist's search text and dates → SQL pieces: pure functions, tested on their own.

/** Date-only bounds are local days: `to: 2026-11-26` includes that whole day. */
export function parseDateBound(value: string, bound: 'start' | 'end'): number {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const [y, m, d] = value.split('-').map(Number) as [number, number, number];
    return bound === 'start' ? new Date(y, m - 1, d).getTime() : new Date(y, m - 1, d + 1).getTime() - 1;
  }
  return new Date(value).getTime();
}

/**
 * The artist's search text → an FTS5 query. Words must all match; "quoted phrases" match
 * as phrases; `word*` matches a prefix; `-word` excludes. Every token is quoted, so FTS5
 * operators typed by accident (AND, NEAR, ^, :) are searched as words, never run.
 */
export function buildFtsQuery(text: string, includeNegative: boolean): { match?: string; exclude?: string; empty?: boolean } {
  const include: string[] = [];
  const exclude: string[] = [];
  for (const m of text.matchAll(/(-?)"([^"]*)"?|(-?)(\S+)/g)) {
    const negated = (m[1] ?? m[3]) === '-';
    const raw = m[2] ?? m[4] ?? '';
    const prefix = m[2] === undefined && raw.endsWith('*');
    // unicode61 splits on anything that is not a letter or digit; do the same here so a
    // typed "red-fox" is the phrase "red fox".
    const tokens = raw.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [];
    if (tokens.length === 0) continue;
    const phrase = `"${tokens.join(' ')}"${prefix ? '*' : ''}`;
    (negated ? exclude : include).push(phrase);
  }
  const scope = includeNegative ? '' : '{prompt} : ';
  const out: { match?: string; exclude?: string; empty?: boolean } = {};
  // FTS5's NOT is binary ("a NOT b"): exclusions join the match when there is one, and
  // become a NOT IN over their own match when the text only excludes.
  if (include.length) out.match = `${scope}(${include.join(' AND ')}${exclude.length ? ` NOT (${exclude.join(' OR ')})` : ''})`;
  else if (exclude.length) out.exclude = `${scope}(${exclude.join(' OR ')})`;
  if (text.trim() && !include.length && !exclude.length) out.empty = true; // only punctuation: nothing can match
  return out;
}


/**
 * The FTS5 query for prompts holding a word that starts with `prefix` (its last word as a
 * prefix, any earlier words as a phrase before it), or undefined when it has no word.
 */
export function promptPrefixQuery(prefix: string): string | undefined {
  const tokens = prefix.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [];
  if (tokens.length === 0) return undefined;
  return `{prompt} : "${tokens.join(' ')}"*`;
}

export { countPromptPhrases } from '../contract/prompts.js';
