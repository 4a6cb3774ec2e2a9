import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProjectDocument } from '../../app/contract/projects.js';
import { readProjectFile } from '../../app/projects/atelier-file.js';
import { addCandidates, addGeneration, addLayer, createLayer, libraryImageKey } from '../../app/projects/document/index.js';
import { readZip, writeZip } from '../../app/projects/zip.js';
import { ProjectsService } from '../../app/projects/session.js';
import { type StudioService, createStudio, openStudioLibrary } from '../../app/service/index.js';
import { libraryImages } from '../../app/service/projects-handlers.js';
import { realPng } from '../fixtures/projects/real-png.js';
import { tempHome } from '../helpers/home.js';

// Candidates by reference: the document names library images by SHA-256; the UI never sends
// their bytes. The service copies them from the library into the .atelier file, and a file
// opened where the library lacks them hands them to that library.

const here = tempHome();
const elsewhere = tempHome();
let studio: StudioService;
let other: StudioService;
let sha256: string;
let libraryBytes: Buffer;
let generationId: string;

/** A document with one generation whose candidate is a library image, placed on the canvas. */
function withCandidate(doc: ProjectDocument, sha: string): ProjectDocument {
  let next = addGeneration(doc, {
    id: 'g-ref',
    createdAt: '2026-11-30T08:00:00.000Z',
    mode: 'txt2img',
    request: { model: 'starter', prompt: 'a lake', seed: 3 },
    parentCandidateId: null,
    maskLayerId: null,
    maskSnapshot: null,
    candidates: [],
  });
  next = addCandidates(next, 'g-ref', [{ id: 'c-ref', index: 0, seed: 3, sha256: sha, width: 64, height: 64, image: { sha256: sha }, favourite: false }]);
  return addLayer(next, createLayer('generated', { id: 'l-ref', name: 'Seed 3', image: { sha256: sha }, x: 0, y: 0, width: 64, height: 64, generationId: 'g-ref', candidateId: 'c-ref' }));
}

beforeAll(async () => {
  studio = await createStudio({ transport: 'cli', home: here.home });
  other = await createStudio({ transport: 'cli', home: elsewhere.home });
  const source = path.join(here.home, 'lake.png');
  fs.writeFileSync(source, realPng('lake', 64, 64));
  const [imported] = (await studio.call('library.import', { paths: [source] })).results;
  expect(imported).toMatchObject({ ok: true });
  generationId = imported!.generationId!;
  const record = await studio.call('library.get', { id: generationId });
  sha256 = record.candidates[0]!.sha256;
  const file = studio.mediaFile('image', sha256);
  expect(file).toBeDefined();
  libraryBytes = fs.readFileSync(file!);
});

afterAll(async () => {
  await studio.close();
  await other.close();
  here.cleanup();
  elsewhere.cleanup();
});

describe('library images by reference', () => {
  it('saves the library bytes into the file though the UI sent none', async () => {
    const created = await studio.call('projects.new', { width: 64, height: 64 });
    const document = withCandidate(created.snapshot.document, sha256);
    expect(await studio.call('projects.update', { sessionId: created.sessionId, document })).toEqual({ dirty: true });
    const out = path.join(here.home, 'by-ref.atelier');
    await studio.call('projects.saveAs', { sessionId: created.sessionId, path: out });
    const { files } = await readZip(fs.readFileSync(out));
    const entry = libraryImageKey(sha256);
    expect(Buffer.from(files.get(entry)!).equals(libraryBytes)).toBe(true);
    expect(createHash('sha256').update(files.get(entry)!).digest('hex')).toBe(sha256);
    expect(JSON.parse(Buffer.from(files.get('manifest.json')!).toString('utf8'))).toMatchObject({ schemaVersion: 2, parts: [], images: [entry] });
    // Opened again here: the document as saved, and no library image among the UI's assets.
    const reopened = await studio.call('projects.open', { path: out });
    expect(reopened.snapshot.document).toEqual(document);
    expect(reopened.snapshot.assets).toEqual({});
  });

  it('refuses a document naming an image the library does not hold', async () => {
    const created = await studio.call('projects.new', { width: 64, height: 64 });
    const document = withCandidate(created.snapshot.document, 'f'.repeat(64));
    await expect(studio.call('projects.update', { sessionId: created.sessionId, document })).rejects.toMatchObject({ code: 'not_found', message: /library image f{64}/ });
  });

  it('keeps the bytes it copied when history deletes the image before the save', async () => {
    const source = path.join(here.home, 'doomed.png');
    fs.writeFileSync(source, realPng('doomed', 64, 64));
    const [imported] = (await studio.call('library.import', { paths: [source] })).results;
    const record = await studio.call('library.get', { id: imported!.generationId! });
    const doomed = record.candidates[0]!.sha256;
    const created = await studio.call('projects.new', { width: 64, height: 64 });
    await studio.call('projects.update', { sessionId: created.sessionId, document: withCandidate(created.snapshot.document, doomed) });
    await studio.call('library.delete', { ids: [imported!.generationId!] });
    expect(studio.mediaFile('image', doomed)).toBeUndefined();
    const out = path.join(here.home, 'kept.atelier');
    await studio.call('projects.saveAs', { sessionId: created.sessionId, path: out });
    const { files } = await readZip(fs.readFileSync(out));
    expect(createHash('sha256').update(files.get(libraryImageKey(doomed))!).digest('hex')).toBe(doomed);
  });

  it('exports layers that refer to library images', async () => {
    const created = await studio.call('projects.new', { width: 64, height: 64 });
    await studio.call('projects.update', { sessionId: created.sessionId, document: withCandidate(created.snapshot.document, sha256) });
    const out = path.join(here.home, 'flat.png');
    const result = await studio.call('projects.export', { sessionId: created.sessionId, format: 'png', out });
    expect(result.bytes).toBeGreaterThan(0);
    const sheet = await studio.call('projects.export', { sessionId: created.sessionId, format: 'contact-sheet', out: path.join(here.home, 'sheet.png'), generationId: 'g-ref' });
    expect(sheet.bytes).toBeGreaterThan(0);
  });

  it('opens on a machine whose library lacks the image: the file hands it to that library', async () => {
    expect(other.mediaFile('image', sha256)).toBeUndefined();
    const opened = await other.call('projects.open', { path: path.join(here.home, 'by-ref.atelier') });
    expect(opened.snapshot.document.layers.find((l) => l.id === 'l-ref')).toMatchObject({ image: { sha256 } });
    const file = other.mediaFile('image', sha256);
    expect(file).toBeDefined();
    expect(fs.readFileSync(file!).equals(libraryBytes)).toBe(true);
    // And it saves from there again, complete.
    const out = path.join(elsewhere.home, 'again.atelier');
    await other.call('projects.saveAs', { sessionId: opened.sessionId, path: out });
    expect((await readProjectFile(out)).assets[libraryImageKey(sha256)]).toBeDefined();
  });

  it('recovers an autosave on a machine whose library lacks the image', async () => {
    const source = path.join(here.home, 'rescued.png');
    fs.writeFileSync(source, realPng('rescued', 64, 64));
    const [imported] = (await studio.call('library.import', { paths: [source] })).results;
    const rescued = (await studio.call('library.get', { id: imported!.generationId! })).candidates[0]!.sha256;
    // A session that died: its autosave went to the other home, its images came from this library.
    const library = openStudioLibrary(here.home);
    try {
      const crashed = new ProjectsService({ home: elsewhere.home, appVersion: '0.1.0', autosaveSeconds: 0, images: libraryImages(library) });
      const created = crashed.create({ name: 'Rescued', width: 64, height: 64 });
      await crashed.update(created.sessionId, withCandidate(created.snapshot.document, rescued), {});
      await crashed.autosaveNow();
    } finally {
      library.close();
    }
    expect(other.mediaFile('image', rescued)).toBeUndefined();
    const [offered] = (await other.call('projects.recoveries', {})).filter((r) => r.name === 'Rescued');
    const recovered = await other.call('projects.recover', { recoveryId: offered!.recoveryId });
    expect(recovered.snapshot.document.layers.find((l) => l.id === 'l-ref')).toMatchObject({ image: { sha256: rescued } });
    expect(createHash('sha256').update(fs.readFileSync(other.mediaFile('image', rescued)!)).digest('hex')).toBe(rescued);
  });

  it('refuses a file whose library image does not hash to its name, or that lacks it', async () => {
    const { files } = await readZip(fs.readFileSync(path.join(here.home, 'by-ref.atelier')));
    const entry = libraryImageKey(sha256);
    const rebuilt = (swap: Uint8Array | null) =>
      writeZip(
        [...files]
          .filter(([name]) => swap !== null || name !== entry)
          .map(([name, data]) => ({ name, data: name === entry && swap ? swap : data, compress: false })),
      );
    const forged = path.join(here.home, 'forged.atelier');
    fs.writeFileSync(forged, await rebuilt(realPng('forged', 64, 64)));
    await expect(other.call('projects.open', { path: forged })).rejects.toMatchObject({ code: 'invalid_file', message: /SHA-256 differs/ });
    const missing = path.join(here.home, 'missing.atelier');
    fs.writeFileSync(missing, await rebuilt(null));
    await expect(other.call('projects.open', { path: missing })).rejects.toMatchObject({ code: 'invalid_file', message: /does not contain/ });
  });
});
