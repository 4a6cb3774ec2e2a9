import { describe, expect, it } from 'vitest';
import { terminalJson, terminalText } from '../../app/contract/terminal.js';

describe('terminalText', () => {
  it('shows the escapes of a hostile prompt instead of passing them to the terminal', () => {
    const hostile = 'a red house\u001b]0;pwned\u0007\u001b[2J';
    expect(terminalText(hostile)).toBe('a red house\\x1b]0;pwned\\x07\\x1b[2J');
  });

  it('shows NUL, DEL, C1 controls, separators and bidi overrides', () => {
    expect(terminalText('a\u0000b\u007fc\u009bd\u2028e\u202ef\u2066g')).toBe('a\\x00b\\x7fc\\x9bd\\u2028e\\u202ef\\u2066g');
  });

  it('writes newlines, returns and tabs by name, keeping newlines only when asked', () => {
    expect(terminalText('one\ntwo\r\tthree')).toBe('one\\ntwo\\r\\tthree');
    expect(terminalText('one\ntwo\r', { keepNewlines: true })).toBe('one\ntwo\\r');
  });

  it('leaves ordinary text alone, backslashes, accents and emoji included', () => {
    const plain = 'C:\\models\\sd15 — (landscape:1.3) café 🎨 日本';
    expect(terminalText(plain)).toBe(plain);
  });
});

describe('terminalJson', () => {
  it('escapes what JSON.stringify leaves raw and still parses to the same value', () => {
    const value = { prompt: 'x\u009b2Jy\u202e\u001b', n: 1 };
    const json = terminalJson(value);
    const raw = [...json].filter((ch) => ch !== '\n' && (ch < ' ' || (ch >= '\u007f' && ch <= '\u009f') || ch === '\u202e'));
    expect(raw).toEqual([]);
    expect(json).toContain('\\u009b');
    expect(JSON.parse(json)).toEqual(value);
  });
});
