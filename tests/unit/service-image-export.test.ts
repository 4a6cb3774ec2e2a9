import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sweepStrayExports, writeNewPng } from '../../app/service/image-export.js';

// Writing recorded images into the user's folder (atelier generate --out): whole files under
// free names, and the temp files of a killed writer swept by the next one.

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-image-export-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** The pid of a process that has ended (so no live writer owns its temp files). */
function deadPid(): number {
  const done = spawnSync(process.execPath, ['-e', '']);
  expect(done.status).toBe(0);
  return done.pid!;
}

describe('writeNewPng', () => {
  it('creates the folder, writes under the first free name and leaves no temp file', async () => {
    const dir = path.join(root, 'new', 'folder');
    const first = await writeNewPng(dir, 'x-1', Buffer.from('one'));
    fs.writeFileSync(path.join(dir, 'x-1-2.png'), 'someone else');
    const second = await writeNewPng(dir, 'x-1', Buffer.from('two'));
    expect([path.basename(first), path.basename(second)]).toEqual(['x-1.png', 'x-1-3.png']);
    expect(fs.readFileSync(path.join(dir, 'x-1-2.png'), 'utf8')).toBe('someone else');
    expect(fs.readdirSync(dir).sort()).toEqual(['x-1-2.png', 'x-1-3.png', 'x-1.png']);
  });

  it('gives concurrent writers of one name each their own file', async () => {
    const dir = path.join(root, 'race');
    const files = await Promise.all(Array.from({ length: 8 }, (_, i) => writeNewPng(dir, 'same', Buffer.from(String(i)))));
    expect(new Set(files).size).toBe(8);
    expect(files.map((f) => fs.readFileSync(f, 'utf8')).sort()).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
  });
});

describe('sweepStrayExports', () => {
  it('removes the temp files of ended writers only', async () => {
    const dir = path.join(root, 'sweep');
    fs.mkdirSync(dir);
    const dead = `.20261130-1-5.png.${deadPid()}.0a1b2c3d.tmp`;
    const live = `.20261130-1-6.png.${process.pid}.0a1b2c3d.tmp`;
    const others = ['.notes.tmp', 'keep.png', `.x.atelier.${deadPid()}.0a1b.tmp`];
    for (const n of [dead, live, ...others]) fs.writeFileSync(path.join(dir, n), 'x');
    expect(await sweepStrayExports(dir)).toEqual([path.join(dir, dead)]);
    expect(fs.readdirSync(dir).sort()).toEqual([live, ...others].sort());
    expect(await sweepStrayExports(path.join(root, 'missing'))).toEqual([]);
  });
});
