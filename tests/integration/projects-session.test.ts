import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StudioEvent } from '../../app/contract/index.js';
import { History, setLayerImage, setLayerProperties } from '../../app/projects/document/index.js';
import { ProjectsService } from '../../app/projects/session.js';
import { createStudio, type StudioService } from '../../app/service/index.js';
import { realPng } from '../fixtures/projects/real-png.js';
import { buildSampleProject } from '../fixtures/projects/sample-document.js';
import { tempHome } from '../helpers/home.js';
import { until } from '../helpers/until.js';

const { document: sample, assets } = buildSampleProject(realPng);

describe('project sessions', () => {
  let home: ReturnType<typeof tempHome>;
  let studio: StudioService;
  const events: StudioEvent[] = [];
  beforeAll(async () => {
    home = tempHome();
    process.env.ATELIER_AUTOSAVE_SECONDS = '0.1';
    studio = await createStudio({ transport: 'web', home: home.home });
    delete process.env.ATELIER_AUTOSAVE_SECONDS;
    studio.subscribe((e) => events.push(e));
  });
  afterAll(async () => {
    await studio.close();
    home.cleanup();
  });

  it('autosaves a dirty project to the recovery folder and announces it; a clean close removes it', async () => {
    const opened = await studio.call('projects.new', { name: 'Auto', width: 64, height: 64 });
    await studio.call('projects.update', { sessionId: opened.sessionId, document: { ...sample, id: opened.snapshot.document.id }, assets });
    const recoveryFile = path.join(home.home, 'recovery', `${opened.sessionId}.atelier`);
    await until(() => events.some((e) => e.type === 'project.autosaved' && e.sessionId === opened.sessionId), 'the project to be autosaved');
    expect(events.find((e) => e.type === 'project.autosaved')).toMatchObject({ sessionId: opened.sessionId });
    expect(fs.existsSync(recoveryFile)).toBe(true);
    // Its own live session is not offered as a recovery.
    expect(await studio.call('projects.recoveries', {})).toEqual([]);
    await studio.call('projects.close', { sessionId: opened.sessionId });
    expect(fs.existsSync(recoveryFile)).toBe(false);
  });

  it('parts sent once stay known, so undo then redo needs no re-send', async () => {
    const opened = await studio.call('projects.new', { width: 64, height: 48 });
    const history = new History({ ...sample, id: opened.snapshot.document.id });
    await studio.call('projects.update', { sessionId: opened.sessionId, document: history.document, assets });
    history.change((d) => setLayerImage(d, 'paint', { part: 'parts/ref.png' }));
    await studio.call('projects.update', { sessionId: opened.sessionId, document: history.document });
    history.undo();
    history.change((d) => setLayerProperties(d, 'ref', { visible: false }));
    await studio.call('projects.update', { sessionId: opened.sessionId, document: history.document });
    history.undo();
    history.undo();
    history.redo();
    expect(await studio.call('projects.update', { sessionId: opened.sessionId, document: history.document })).toEqual({ dirty: true });
    const out = path.join(home.home, 'redo.atelier');
    await studio.call('projects.saveAs', { sessionId: opened.sessionId, path: out });
    expect((await studio.call('projects.open', { path: out })).snapshot.document).toEqual(history.document);
  });

  it('recovers and discards through StudioApi; an unknown id is not_found', async () => {
    // A session from a process that died: written by another service on the same home, never closed.
    const crashed = new ProjectsService({ home: home.home, appVersion: '0.1.0', autosaveSeconds: 0 });
    const a = crashed.create({ name: 'A', width: 64, height: 64 });
    await crashed.update(a.sessionId, { ...sample, id: a.snapshot.document.id, name: 'Lost A' }, assets);
    const b = crashed.create({ name: 'B', width: 64, height: 64 });
    await crashed.update(b.sessionId, { ...sample, id: b.snapshot.document.id, name: 'Lost B' }, assets);
    await crashed.autosaveNow();
    const offered = await studio.call('projects.recoveries', {});
    expect(offered.map((r) => r.name).sort()).toEqual(['Lost A', 'Lost B']);
    const recovered = await studio.call('projects.recover', { recoveryId: a.sessionId });
    expect(recovered.snapshot.document.name).toBe('Lost A');
    expect(recovered.snapshot.assets).toEqual(assets);
    // The recovered project is protected under its new session until it is saved or closed.
    expect(fs.existsSync(path.join(home.home, 'recovery', `${recovered.sessionId}.atelier`))).toBe(true);
    expect(await studio.call('projects.discardRecovery', { recoveryId: b.sessionId })).toEqual({ discarded: true });
    expect(await studio.call('projects.recoveries', {})).toEqual([]);
    await expect(studio.call('projects.recover', { recoveryId: b.sessionId })).rejects.toMatchObject({ code: 'not_found' });
    await expect(studio.call('projects.recover', { recoveryId: '../../etc' })).rejects.toMatchObject({ code: 'bad_request' });
    await studio.call('projects.close', { sessionId: recovered.sessionId });
  });
});
