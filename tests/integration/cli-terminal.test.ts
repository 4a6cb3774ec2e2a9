import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeRgbaPng, insertTextChunks, textChunk } from '../../app/formats/png-metadata.js';
import { tempHome } from '../helpers/home.js';

// Issue 17: an imported PNG whose prompt holds `ESC ] 0 ; … BEL ESC [ 2 J` retitled and cleared
// the terminal of whoever ran `history show` or `history search`. What the CLI prints from
// stored data and from its arguments must reach the terminal as visible escapes.

const run = promisify(execFile);
const BIN = path.resolve('bin/atelier.mjs');
const { home, cleanup } = tempHome('atelier-terminal-');
afterAll(cleanup);

const HOSTILE = 'a quiet lake\u001b]0;pwned\u0007\u001b[2J\u009b31m';

async function atelier(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { ...process.env, ATELIER_HOME: home }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** No character a terminal would act on, the line feeds between lines aside. */
function controlsIn(text: string): string[] {
  return [...text].filter((ch) => ch !== '\n' && (ch < ' ' || (ch >= '\u007f' && ch <= '\u009f')));
}

describe('terminal output of stored text', () => {
  it('shows a hostile prompt escaped in history import, show, search and lineage, and parses as itself in --json', async () => {
    const file = path.join(home, 'hostile.png');
    const parameters = `${HOSTILE}\nNegative prompt: ugly\u001b[8m\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 8x8`;
    fs.writeFileSync(file, insertTextChunks(encodeRgbaPng({ width: 8, height: 8, data: new Uint8Array(8 * 8 * 4).fill(200) }), [textChunk('parameters', parameters, { forceItxt: true })]));
    const imported = await atelier('history', 'import', file, '--json');
    expect(imported.code, imported.stderr).toBe(0);
    const id = (JSON.parse(imported.stdout) as Array<{ generationId: string }>)[0]!.generationId;

    const outputs = await Promise.all([atelier('history', 'show', id), atelier('history', 'search', 'quiet'), atelier('history', 'lineage', id)]);
    for (const r of outputs) {
      expect(r.code, r.stderr).toBe(0);
      expect(controlsIn(r.stdout + r.stderr)).toEqual([]);
    }
    const [show, search] = outputs;
    expect(show!.stdout).toContain('prompt: a quiet lake\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m');
    expect(show!.stdout).toContain('negative: ugly\\x1b[8m');
    expect(search!.stdout).toContain('a quiet lake\\x1b]0;pwned');

    const json = await atelier('history', 'show', id, '--json');
    expect(controlsIn(json.stdout)).toEqual([]);
    expect((JSON.parse(json.stdout) as { prompt: string }).prompt).toBe(HOSTILE);
  });

  it('shows an argument echoed in an error message escaped', async () => {
    const r = await atelier('history', 'show', 'g_\u001b[2Jgone');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('\\x1b[2Jgone');
    expect(controlsIn(r.stderr)).toEqual([]);
  });
});
