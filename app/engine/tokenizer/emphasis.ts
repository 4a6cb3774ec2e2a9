import { ApiError } from '../../contract/errors.js';

/**
 * AUTOMATIC1111's prompt emphasis syntax (stable-diffusion-webui modules/prompt_parser.py,
 * `parse_prompt_attention`), token for token:
 *   (text) ×1.1 · ((text)) ×1.21 · [text] ÷1.1 · (text:1.5) ×1.5 · \( \) \[ \] \\ literal ·
 *   unbalanced "(" or "[" apply to the rest of the prompt · stray ")" "]" ":" are text ·
 *   BREAK (a whole word, upper case) starts a new 75-token chunk and comes back as
 *   { text: 'BREAK', weight: -1 } · neighbouring pieces of equal weight are merged.
 */
export interface EmphasisPiece {
  text: string;
  weight: number;
}

// The same alternation as A1111's re_attention, in the same order.
const ATTENTION = /\\\(|\\\)|\\\[|\\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|\]|[^\\()[\]:]+|:/g;
// A1111 splits on \s*\bBREAK\b\s*; Python's \b is Unicode-aware, so "word" here is a letter,
// digit or underscore of any script.
const BREAK = /\s*(?<![\p{L}\p{N}_])BREAK(?![\p{L}\p{N}_])\s*/u;

const ROUND = 1.1;
const SQUARE = 1 / 1.1;

export function parseEmphasis(prompt: string): EmphasisPiece[] {
  const res: EmphasisPiece[] = [];
  const round: number[] = [];
  const square: number[] = [];
  const multiplyFrom = (start: number, by: number) => {
    for (let p = start; p < res.length; p++) res[p]!.weight *= by;
  };
  for (const m of prompt.matchAll(ATTENTION)) {
    const text = m[0];
    const weight = m[1];
    if (text.startsWith('\\')) {
      res.push({ text: text.slice(1), weight: 1 });
    } else if (text === '(') {
      round.push(res.length);
    } else if (text === '[') {
      square.push(res.length);
    } else if (weight !== undefined && round.length > 0) {
      // Python's float() refuses "1.2.3" or "."; A1111 fails there, so do we, clearly.
      if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(weight)) {
        throw new ApiError('bad_request', `prompt emphasis weight "${weight}" is not a number (in "${text}")`);
      }
      multiplyFrom(round.pop()!, Number(weight));
    } else if (text === ')' && round.length > 0) {
      multiplyFrom(round.pop()!, ROUND);
    } else if (text === ']' && square.length > 0) {
      multiplyFrom(square.pop()!, SQUARE);
    } else {
      text.split(BREAK).forEach((part, i) => {
        if (i > 0) res.push({ text: 'BREAK', weight: -1 });
        res.push({ text: part, weight: 1 });
      });
    }
  }
  for (const pos of round) multiplyFrom(pos, ROUND);
  for (const pos of square) multiplyFrom(pos, SQUARE);
  if (res.length === 0) res.push({ text: '', weight: 1 });
  for (let i = 0; i + 1 < res.length; ) {
    if (res[i]!.weight === res[i + 1]!.weight) {
      res[i]!.text += res[i + 1]!.text;
      res.splice(i + 1, 1);
    } else {
      i++;
    }
  }
  return res;
}
