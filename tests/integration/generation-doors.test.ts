import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { GenerationRequest, type StudioEvent } from '../../app/contract/index.js';
import { createStudio } from '../../app/service/index.js';
import { tempHome } from '../helpers/home.js';
import { until } from '../helpers/until.js';

// One generation path (issue 11): the same request made in the studio (StudioService.call, as
// the web and desktop doors do) and with `atelier generate` (a child process, as a user runs
// it) gives PNGs whose text chunks are byte for byte the same, apart from what names the run
// itself (its generation and candidate ids and its time), and the same pixels.

const run = promisify(execFile);
const BIN = path.resolve('bin/atelier.mjs');
const MODEL = path.resolve('tests/fixtures/models/sd1-tiny');
const { home, cleanup } = tempHome('atelier-doors-');
afterAll(cleanup);

interface Chunk {
  type: string;
  data: Buffer;
}

function chunks(png: Buffer): Chunk[] {
  const out: Chunk[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    out.push({ type: png.toString('latin1', at + 4, at + 8), data: png.subarray(at + 8, at + 8 + length) });
    at += 12 + length;
  }
  return out;
}

/** A text chunk's keyword and text, iTXt decompressed where it is. */
function text(chunk: Chunk): { keyword: string; text: string } {
  const nul = chunk.data.indexOf(0);
  const keyword = chunk.data.toString('latin1', 0, nul);
  if (chunk.type === 'tEXt') return { keyword, text: chunk.data.toString('latin1', nul + 1) };
  if (chunk.type === 'zTXt') return { keyword, text: zlib.inflateSync(chunk.data.subarray(nul + 2)).toString('latin1') };
  const compressed = chunk.data[nul + 1] === 1;
  const lang = chunk.data.indexOf(0, nul + 3);
  const translated = chunk.data.indexOf(0, lang + 1);
  const body = chunk.data.subarray(translated + 1);
  return { keyword, text: (compressed ? zlib.inflateSync(body) : body).toString('utf8') };
}

const TEXT_TYPES = new Set(['tEXt', 'zTXt', 'iTXt']);

/** The text chunks' bytes, with the values that name this run (not the request) put as placeholders. */
function textChunks(png: Buffer): string[] {
  const texts = chunks(png).filter((c) => TEXT_TYPES.has(c.type));
  const record = texts.map(text).find((t) => t.keyword === 'atelier');
  const own = record ? (JSON.parse(record.text) as Record<string, unknown>) : {};
  return texts.map((c) => {
    let raw = `${c.type}:${c.data.toString('latin1')}`;
    for (const key of ['generationId', 'candidateId', 'createdAt']) {
      const value = own[key];
      if (typeof value === 'string' && value) raw = raw.split(value).join(`<${key}>`);
    }
    return raw;
  });
}

function pixels(png: Buffer): Buffer {
  return Buffer.concat(chunks(png).filter((c) => c.type === 'IDAT' || c.type === 'IHDR').map((c) => c.data));
}

describe('one generation path', () => {
  it('stamps the same text chunks and pixels whether the studio or the CLI makes the request', async () => {
    const args = { prompt: 'a lighthouse (at dusk:1.2)', negative: 'fog', seed: 11, steps: 2, batch: 2 };

    // The studio's door: the request as the UI sends it, through StudioService.call.
    const studio = await createStudio({ transport: 'web', home });
    let studioPngs: Buffer[];
    try {
      const events: StudioEvent[] = [];
      const unsubscribe = studio.subscribe((e) => events.push(e));
      const request = GenerationRequest.parse({ model: MODEL, prompt: args.prompt, negativePrompt: args.negative, seed: args.seed, steps: args.steps, batch: args.batch, device: 'cpu', controls: [] });
      const { jobId } = await studio.call('generate', { request });
      const end = await until(() => events.find((e) => 'jobId' in e && e.jobId === jobId && (e.type === 'job.completed' || e.type === 'job.failed')), { timeout: 100_000, what: "the studio's job to finish" });
      unsubscribe();
      if (end.type !== 'job.completed') throw new Error(`the studio's job failed: ${JSON.stringify(end)}`);
      studioPngs = end.candidates.map((c) => fs.readFileSync(studio.mediaFile('image', c.sha256)!));
    } finally {
      await studio.close();
    }

    // The CLI's door, on the same data folder.
    const out = path.join(home, 'out');
    const { stdout } = await run(
      process.execPath,
      [BIN, 'generate', '--model', MODEL, '--prompt', args.prompt, '--negative', args.negative, '--seed', String(args.seed), '--steps', String(args.steps), '--batch', String(args.batch), '--device', 'cpu', '--out', out, '--json'],
      { env: { ...process.env, ATELIER_HOME: home }, timeout: 120_000 },
    );
    const cliPngs = (JSON.parse(stdout) as { files: string[] }).files.map((f) => fs.readFileSync(f));

    expect(cliPngs).toHaveLength(2);
    for (const [i, cli] of cliPngs.entries()) {
      const fromStudio = textChunks(studioPngs[i]!);
      expect(fromStudio.length).toBeGreaterThanOrEqual(2); // parameters and the atelier record
      expect(fromStudio.some((t) => t.includes('<generationId>'))).toBe(true);
      expect(textChunks(cli)).toEqual(fromStudio);
      expect(pixels(cli).equals(pixels(studioPngs[i]!))).toBe(true);
    }
    // The two runs are two entries of one history, each naming its own run.
    expect(cliPngs[0]!.equals(studioPngs[0]!)).toBe(false);
  });
});
