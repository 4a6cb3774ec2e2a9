import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../app/contract/errors.js';
import { DEFAULT_PROJECT_LIMITS } from '../../app/projects/atelier-file.js';
import { readOra, readPsdLayers } from '../../app/projects/import.js';
import { readZip } from '../../app/projects/zip.js';
import { createStudio, type StudioService } from '../../app/service/index.js';
import { TINY_PNG, craftZip, hostileProjects, pngHeader } from '../fixtures/projects/craft.js';
import { tempHome } from '../helpers/home.js';

async function refusal(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error('expected a refusal');
}

function listTree(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

describe('hostile project files', () => {
  let home: ReturnType<typeof tempHome>;
  let studio: StudioService;
  let dir: string;

  beforeAll(async () => {
    home = tempHome();
    dir = path.join(home.home, 'files');
    fs.mkdirSync(dir);
    studio = await createStudio({ transport: 'web', home: home.home });
  });
  afterAll(async () => {
    await studio.close();
    home.cleanup();
  });

  it.each(Object.entries(hostileProjects))('%s', async (name, { bytes, message }) => {
    const file = path.join(dir, `${name.replace(/[^a-z0-9]+/gi, '-')}.atelier`);
    fs.writeFileSync(file, bytes());
    const before = listTree(home.home);
    if (name.startsWith('a valid control')) {
      const opened = await studio.call('projects.open', { path: file });
      expect(opened.snapshot.document.layers).toHaveLength(1);
      await studio.call('projects.close', { sessionId: opened.sessionId });
      return;
    }
    const error = await refusal(studio.call('projects.open', { path: file }));
    expect(error.code).toBe('invalid_file');
    expect(error.message).toMatch(message);
    // Nothing written anywhere under home (no extraction, no recovery, no recent entry), no session left.
    expect(listTree(home.home)).toEqual(before);
    expect(fs.existsSync(path.join(home.home, '..', 'evil.txt'))).toBe(false);
    expect(await studio.call('projects.recoveries', {})).toEqual([]);
    fs.rmSync(file);
  });

  it('counts inflated bytes across entries against the total limit', async () => {
    const entries = Array.from({ length: 5 }, (_, i) => ({ name: `parts/x${i}.png`, data: Buffer.alloc(300_000, i) }));
    const limits = { ...DEFAULT_PROJECT_LIMITS, maxTotalBytes: 1_000_000 };
    const error = await refusal(readZip(craftZip(entries), limits));
    expect(error.message).toMatch(/inflates to more than 1000000 bytes/);
  });

  it('refuses hostile OpenRaster files', async () => {
    const ora = (stack: string, extra: Parameters<typeof craftZip>[0] = []) =>
      craftZip([{ name: 'mimetype', data: 'image/openraster', deflate: false }, { name: 'stack.xml', data: stack }, ...extra]);
    const laughs = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><image w="1" h="1"><stack><layer src="a.png" name="&lol2;"/></stack></image>';
    expect((await refusal(readOra(ora(laughs, [{ name: 'a.png', data: TINY_PNG }])))).message).toMatch(/declares a DTD/);
    expect((await refusal(readOra(ora('<image w="1" h="1"><stack><layer src="../../etc/passwd"/></stack></image>')))).message).toMatch(/does not contain/);
    expect((await refusal(readOra(ora('<image w="99999" h="1"><stack/></image>')))).message).toMatch(/outside 1\.\.16384/);
    expect((await refusal(readOra(ora('<image w="1" h="1"><stack><layer src="a.png"/></stack></image>', [{ name: 'a.png', data: pngHeader(20000, 20000) }])))).message).toMatch(/20000×20000/);
    expect((await refusal(readOra(craftZip([{ name: 'mimetype', data: 'application/zip' }])))).message).toMatch(/not image\/openraster/);
    // Well-formed, but with an offset no document can hold: refused whole, no session opened.
    const far = path.join(dir, 'far.ora');
    fs.writeFileSync(far, ora('<image w="1" h="1"><stack><layer src="a.png" x="1e12"/></stack></image>', [{ name: 'a.png', data: TINY_PNG }]));
    const error = await refusal(studio.call('projects.open', { path: far }));
    expect(error).toMatchObject({ code: 'invalid_file', message: expect.stringMatching(/far\.ora does not make a valid project/) });
    expect((await refusal(studio.call('projects.importLayers', { path: far }))).code).toBe('invalid_file');
  });

  it('refuses a PSD that declares a huge canvas before decoding it', async () => {
    const header = Buffer.alloc(26);
    header.write('8BPS', 0, 'latin1');
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(4, 12);
    header.writeUInt32BE(300_000, 14);
    header.writeUInt32BE(300_000, 18);
    expect((await refusal(readPsdLayers(header))).message).toMatch(/300000×300000 is outside/);
    expect((await refusal(readPsdLayers(Buffer.from('8BPS garbage that is not a psd at all......')))).message).toMatch(/PSD/);
  });

  it('refuses an image that is too large or not an image', async () => {
    const big = path.join(dir, 'big.png');
    fs.writeFileSync(big, pngHeader(20_000, 100));
    expect((await refusal(studio.call('projects.importLayers', { path: big }))).message).toMatch(/20000×100|not an image|could not be decoded/);
    const text = path.join(dir, 'notes.png');
    fs.writeFileSync(text, 'hello');
    expect((await refusal(studio.call('projects.importLayers', { path: text }))).code).toBe('invalid_file');
  });
});
