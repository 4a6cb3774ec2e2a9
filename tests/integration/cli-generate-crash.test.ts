import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { tempHome } from '../helpers/home.js';

// `atelier generate` is SIGKILLed at random moments of a run; whatever the moment, every PNG
// in --out is an image the history records (issue 17: the CLI used to write PNGs before
// recording them), and the next run leaves no temp file behind.

const BIN = path.resolve('bin/atelier.mjs');
const MODEL = path.resolve('tests/fixtures/models/sd1-tiny');
const { home, cleanup } = tempHome('atelier-cli-crash-');
const out = path.join(home, 'out');
afterAll(cleanup);

const ARGS = ['generate', '--model', MODEL, '--prompt', 'a crash test', '--steps', '4', '--batch', '4', '--device', 'cpu', '--out', out];

/** mulberry32: the kill moments are random but the same on every run of the test, so a failure repeats. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LAST_STEP = 'candidate 4/4 step 4/4';

interface Kill {
  /** Counted from the start of the process, or from the last step's progress line (recording and writing follow it). */
  from: 'start' | 'last step';
  ms: number;
}

/** Runs one generation; SIGKILLs it at `kill` unless it ends first. */
function generate(kill?: Kill): Promise<{ killed: boolean; ms: number; tailMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let lastStepAt: number | undefined;
    const child = spawn(process.execPath, [BIN, ...ARGS], { env: { ...process.env, ATELIER_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    const killIn = (ms: number) => (timer = setTimeout(() => child.kill('SIGKILL'), ms));
    if (kill?.from === 'start') killIn(kill.ms);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (lastStepAt === undefined && stderr.includes(LAST_STEP)) {
        lastStepAt = Date.now();
        if (kill?.from === 'last step') killIn(kill.ms);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const now = Date.now();
      if (signal !== 'SIGKILL' && code !== 0) reject(new Error(`atelier generate failed (${code}): ${stderr}`));
      else resolve({ killed: signal === 'SIGKILL', ms: now - started, tailMs: lastStepAt === undefined ? 0 : now - lastStepAt });
    });
  });
}

function recordedImages(): Set<string> {
  const db = new Database(path.join(home, 'library', 'library.sqlite'), { readonly: true });
  try {
    return new Set((db.prepare('SELECT image_sha256 AS sha FROM candidates').all() as Array<{ sha: string }>).map((r) => r.sha));
  } finally {
    db.close();
  }
}

function pngsIn(dir: string): Array<{ name: string; sha: string }> {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.png'))
    .map((name) => ({ name, sha: crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, name))).digest('hex') }));
}

describe('atelier generate killed at random moments', () => {
  it('leaves no PNG the history does not know, and no temp file after the next run', async () => {
    // A whole run first: its length sets the span the kills fall in.
    const whole = await generate();
    expect(pngsIn(out)).toHaveLength(4);
    const next = random(17);
    let tempsLeft = 0;
    const landed: string[] = [];
    for (let round = 0; round < 12; round++) {
      // Every other kill falls anywhere from start-up to past a whole run; the others fall in
      // the short tail after the last step, where the run is recorded and its PNGs written.
      const kill: Kill = round % 2 === 0 ? { from: 'start', ms: Math.round(whole.ms * (0.2 + next())) } : { from: 'last step', ms: Math.round(whole.tailMs * next()) };
      const before = pngsIn(out).length;
      const result = await generate(kill);
      const recorded = recordedImages();
      const pngs = pngsIn(out);
      const unknown = pngs.filter((p) => !recorded.has(p.sha));
      expect(unknown.map((p) => p.name), `killed ${kill.ms} ms after the ${kill.from}`).toEqual([]);
      tempsLeft += fs.readdirSync(out).filter((n) => n.endsWith('.tmp')).length;
      landed.push(`${kill.ms} ms after the ${kill.from}: ${result.killed ? `killed, ${pngs.length - before} new PNG(s)` : 'finished first'}`);
    }
    console.log(`whole run ${whole.ms} ms (${whole.tailMs} ms after the last step); ${landed.join('; ')}; temp files left by kills: ${tempsLeft}`);

    // The next run sweeps what a killed one left half-written.
    await generate();
    expect(fs.readdirSync(out).filter((n) => !n.endsWith('.png'))).toEqual([]);
    const recorded = recordedImages();
    expect(pngsIn(out).filter((p) => !recorded.has(p.sha))).toEqual([]);
    const check = await promisify(execFile)(process.execPath, [BIN, 'history', 'check'], { env: { ...process.env, ATELIER_HOME: home } });
    expect(check.stdout).toMatch(/^no problems/);
  }, 300_000); // 14 Node start-ups and runs, on a build machine shared with other suites
});
