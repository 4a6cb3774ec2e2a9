import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readProjectFile } from '../../app/projects/atelier-file.js';
import { backupPathOf, strayTempFiles } from '../../app/projects/safe-save.js';
import { ProjectsService } from '../../app/projects/session.js';
import { tempHome } from '../helpers/home.js';

const CHILD = 'tests/fixtures/projects/save-child.ts';

function start(args: string[]): { child: ChildProcess; lines: string[]; waitFor: (pattern: RegExp) => Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  let buffered = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const w of waiters.splice(0)) {
        if (w.pattern.test(line)) w.resolve(line);
        else waiters.push(w);
      }
    }
  });
  const waitFor = (pattern: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return resolve(seen);
      waiters.push({ pattern, resolve });
      child.once('exit', (code) => reject(new Error(`child exited (${code}) before ${pattern}: ${stderr}`)));
    });
  return { child, lines, waitFor };
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('saving survives being killed', () => {
  let home: ReturnType<typeof tempHome>;
  beforeAll(() => {
    home = tempHome();
  });
  afterAll(() => home.cleanup());

  it('SIGKILL at random points of a save loop always leaves a complete previous or new version', async () => {
    const target = path.join(home.home, 'loop.atelier');
    let interruptedWrites = 0;
    for (let round = 1; round <= 4; round++) {
      const { child, lines, waitFor } = start(['save-loop', target, String(round)]);
      // Kill while save number `at` is being written, after a random few milliseconds.
      const at = 2 + Math.floor(Math.random() * 3);
      await waitFor(new RegExp(`^begin ${at}$`));
      await new Promise((r) => setTimeout(r, Math.random() * 15));
      await kill(child);
      const saved = lines.filter((l) => l.startsWith('saved ')).map((l) => Number(l.slice(6)));
      const lastSaved = Math.max(...saved);
      const project = await readProjectFile(target);
      const rev = Number(/^round (\d+) rev (\d+)$/.exec(project.document.name)?.[2]);
      expect(project.document.name.startsWith(`round ${round} `)).toBe(true);
      // Either the last acknowledged save, or the one in flight if its rename had happened.
      expect([lastSaved, lastSaved + 1]).toContain(rev);
      expect(Object.keys(project.assets)).toHaveLength(10);
      // The backup is a complete earlier version too.
      // (None yet when the very first run is killed before its second save kept one.)
      const backup = fs.existsSync(backupPathOf(target)) ? await readProjectFile(backupPathOf(target)) : { document: { name: 'none' } };
      // (It equals the target when the kill fell between keeping the backup and the final rename.)
      if (backup.document.name.startsWith(`round ${round} `)) expect([rev - 1, rev]).toContain(Number(/rev (\d+)$/.exec(backup.document.name)?.[1]));
      const strays = await strayTempFiles(target);
      interruptedWrites += strays.length > 0 ? 1 : 0;
      // The next start that opens the folder sweeps what the killed save left (issue 17).
      const next = new ProjectsService({ home: home.home, appVersion: '0.1.0', autosaveSeconds: 0 });
      await next.openFile(target);
      await next.shutdown();
      expect(await strayTempFiles(target)).toEqual([]);
      expect(fs.readdirSync(path.dirname(target)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    }
    // Not asserted (timing-dependent), but shown: how many kills landed inside a write.
    console.log(`kill-during-save: ${interruptedWrites} of 4 kills left a temp file behind (a write cut short); none was left after the next open`);
  });

  it('the next open of a folder sweeps temp files of dead writers and keeps a live save\'s', async () => {
    const dir = path.join(home.home, 'sweep');
    fs.mkdirSync(dir);
    const target = path.join(dir, 'p.atelier');
    const { child, waitFor } = start(['save-loop', target, '1']);
    await waitFor(/^saved 1$/);
    await kill(child);
    const dead = child.pid!;
    const strays = [`.p.atelier.${dead}.0badc0de.tmp`, `p.atelier.bak.${dead}.00c0ffee.tmp`, `.other.png.${dead}.12345678.tmp`];
    for (const name of strays) fs.writeFileSync(path.join(dir, name), 'torn');
    const live = `.p.atelier.${process.pid}.abcdef01.tmp`;
    fs.writeFileSync(path.join(dir, live), 'being written');
    fs.writeFileSync(path.join(dir, 'notes.tmp'), 'not ours');
    const next = new ProjectsService({ home: home.home, appVersion: '0.1.0', autosaveSeconds: 0 });
    await next.openFile(target);
    const left = fs.readdirSync(dir);
    expect(left.filter((n) => n.includes(`.${dead}.`))).toEqual([]);
    expect(left).toEqual(expect.arrayContaining([live, 'notes.tmp', 'p.atelier']));
    // The recovery folder is swept when the studio asks for recoveries at start.
    fs.mkdirSync(path.join(home.home, 'recovery'), { recursive: true });
    fs.writeFileSync(path.join(home.home, 'recovery', `.abc.atelier.${dead}.0badc0de.tmp`), 'torn');
    expect(await next.recoveries()).toEqual([]);
    expect(fs.readdirSync(path.join(home.home, 'recovery')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    await next.shutdown();
  });

  it('after a crash the next start offers the autosaved project; closing or saving leaves nothing', async () => {
    const crashHome = path.join(home.home, 'crash');
    fs.mkdirSync(crashHome);
    const { child, waitFor } = start(['autosave', crashHome]);
    const sessionId = (await waitFor(/^autosaved /)).split(' ')[1]!;
    // While that studio is alive, its autosave is not "recoverable" to another one.
    const observer = new ProjectsService({ home: crashHome, appVersion: '0.1.0', autosaveSeconds: 0 });
    expect(await observer.recoveries()).toEqual([]);
    await kill(child);

    const next = new ProjectsService({ home: crashHome, appVersion: '0.1.0', autosaveSeconds: 0 });
    const offered = await next.recoveries();
    expect(offered).toMatchObject([{ recoveryId: sessionId, name: 'Unsaved work', path: null }]);
    const recovered = await next.recover(sessionId);
    expect(recovered.source).toBe('recovery');
    expect(recovered.snapshot.document.name).toBe('Unsaved work');
    expect(recovered.snapshot.document.layers).toHaveLength(8);
    expect(recovered.snapshot.document.generations.flatMap((g) => g.candidates)).toHaveLength(5);
    // Recovered into a session of its own: no longer offered to this studio.
    expect(await next.recoveries()).toEqual([]);
    // Quitting with the recovered work still unsaved keeps it for the start after.
    await next.shutdown();
    const after = new ProjectsService({ home: crashHome, appVersion: '0.1.0', autosaveSeconds: 0 });
    const again = await after.recoveries();
    expect(again.map((r) => r.name)).toEqual(['Unsaved work']);
    // Saving it, then quitting, leaves nothing to recover.
    const reopened = await after.recover(again[0]!.recoveryId);
    await after.save(reopened.sessionId, { assets: {} }, path.join(crashHome, 'rescued.atelier'));
    await after.shutdown();
    expect(fs.readdirSync(path.join(crashHome, 'recovery'))).toEqual([]);
    expect((await readProjectFile(path.join(crashHome, 'rescued.atelier'))).document.name).toBe('Unsaved work');

    fs.mkdirSync(path.join(home.home, 'clean'));
    const clean = start(['clean', path.join(home.home, 'clean')]);
    await new Promise((resolve) => clean.child.once('exit', resolve));
    expect(clean.lines.some((l) => l.startsWith('autosaved '))).toBe(true);
    expect(fs.readdirSync(path.join(home.home, 'clean', 'recovery'))).toEqual([]);
  });
});
