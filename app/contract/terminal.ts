// Text from stored data (prompts, tags, layer and file names, messages that quote file
// bytes) printed to a terminal or a log must not drive the terminal: an imported PNG whose
// prompt holds `ESC ] 0 ; … BEL ESC [ 2 J` would retitle and clear it (issue 17). Every
// door that prints such text passes it through here. Pure, so the CLI, the web server's
// logs and the desktop shell share it through the contract.

/**
 * C0 controls, DEL, C1 controls (U+0080–U+009F: U+009B is a one-character CSI on terminals
 * that honour 8-bit controls), the line and paragraph separators, and the bidirectional
 * overrides and isolates (they reorder what is shown, so a line can read other than it is).
 */
// eslint-disable-next-line no-control-regex -- matching control characters is this file's purpose
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex -- as above
const UNSAFE_KEEPING_LINES = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function visible(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

export interface TerminalTextOptions {
  /**
   * Keep line feeds as line breaks (multi-line text such as a message with a cause). Off by
   * default: one stored field is one line, so a newline in a prompt cannot forge a line.
   */
  keepNewlines?: boolean;
}

/**
 * `text` with every character that a terminal would act on shown as an escape (`\x1b`,
 * `\x00`, `\n`, `\u202e`). Backslashes are left as they are, so Windows paths read as
 * written; the aim is that stored text cannot control the terminal, not a reversible encoding.
 */
export function terminalText(text: string, options: TerminalTextOptions = {}): string {
  return text.replace(options.keepNewlines ? UNSAFE_KEEPING_LINES : UNSAFE, visible);
}

/** Characters that JSON.stringify leaves raw but a terminal may act on (it escapes only C0). */
const JSON_UNSAFE = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * JSON for a terminal: JSON.stringify, with DEL, C1 controls, separators and bidi controls
 * written as `\uXXXX` escapes too. Still valid JSON that parses to the same value.
 */
export function terminalJson(value: unknown, indent = 2): string {
  const json = JSON.stringify(value, null, indent) ?? 'null';
  return json.replace(JSON_UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
