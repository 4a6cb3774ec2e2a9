import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { GenerationRequest, type GenerationSummary } from '../../app/contract/index.js';
import { loadModel, runPipeline } from '../../app/engine/index.js';
import { tempHome } from '../helpers/home.js';

// The "done when": a generation made with `atelier generate` appears in
// `atelier history search`, and the request from `recall` re-runs it to the same pixels.

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const MODEL = path.join(ROOT, 'tests/fixtures/models/sd1-tiny');
const { home, cleanup } = tempHome('atelier-generate-history-');
afterAll(cleanup);

async function atelier(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [path.join(ROOT, 'bin/atelier.mjs'), ...args], { cwd: ROOT, env: { ...process.env, ATELIER_HOME: home }, maxBuffer: 16 << 20 });
}

describe('atelier generate → history', () => {
  it('records, finds, shows, recalls and re-runs a generation exactly', async () => {
    const out = path.join(home, 'out');
    const made = JSON.parse((await atelier('generate', '--model', MODEL, '--prompt', 'a paper lantern over a quiet river', '--steps', '3', '--seed', '4242', '--batch', '2', '--device', 'cpu', '--out', out, '--json')).stdout) as { files: string[]; generationId: string };
    expect(made.generationId).toMatch(/^g_/);

    const found = JSON.parse((await atelier('history', 'search', 'lant*', 'river', '--json')).stdout) as { items: GenerationSummary[]; total: number };
    expect(found.total).toBe(1);
    const entry = found.items[0]!;
    expect(entry.id).toBe(made.generationId);
    expect(entry.candidates.map((c) => c.seed)).toEqual([4242, 4243]);
    expect(entry.modelHash).toMatch(/^[0-9a-f]{64}$/);

    const shown = (await atelier('history', 'show', entry.id)).stdout;
    expect(shown).toContain('prompt: a paper lantern over a quiet river');
    expect(shown).toContain(entry.candidates[1]!.id);

    // The files written to --out are the library's own bytes.
    const stored = path.join(home, 'library', 'images', entry.candidates[1]!.sha256.slice(0, 2), `${entry.candidates[1]!.sha256}.png`);
    expect(fs.readFileSync(stored).equals(fs.readFileSync(made.files[1]!))).toBe(true);

    const recalled = await atelier('history', 'recall', entry.candidates[1]!.id);
    expect(recalled.stderr).toBe('');
    const request = GenerationRequest.parse(JSON.parse(recalled.stdout));
    expect(request).toMatchObject({ model: MODEL, prompt: 'a paper lantern over a quiet river', seed: 4243, batch: 1, steps: 3 });

    const model = await loadModel(request.model, { device: 'cpu' });
    try {
      const result = await runPipeline(model, request, {});
      const again = result.candidates[0]!.image;
      const original = PNG.sync.read(fs.readFileSync(stored));
      expect([again.width, again.height]).toEqual([original.width, original.height]);
      expect(Buffer.from(again.data).equals(Buffer.from(original.data))).toBe(true);
    } finally {
      await model.release();
    }

    // Export carries A1111 parameters + our record; importing that file brings it back as ours.
    const exported = (await atelier('history', 'export', entry.id, '--out', path.join(home, 'exported'))).stdout.trim().split('\n');
    expect(exported).toHaveLength(2);
    const imported = await atelier('history', 'import', exported[0]!, path.join(ROOT, 'tests/fixtures/images/comfyui.png'));
    expect(imported.stdout).toMatch(/already in the library|atelier, with parameters/);
    expect(imported.stdout).toMatch(/comfyui, with parameters/);
    const backup = path.join(home, 'backup.sqlite');
    expect((await atelier('history', 'backup', backup)).stdout).toContain(backup);
    expect(fs.statSync(backup).size).toBeGreaterThan(0);
  });

  it('exits non-zero with a clear message for an unknown entry', async () => {
    await expect(atelier('history', 'show', 'g_missing')).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('No generation or candidate "g_missing"') });
  });
});
