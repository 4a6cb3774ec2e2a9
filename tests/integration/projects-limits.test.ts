import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { writePsdBuffer, type Layer as PsdLayer } from 'ag-psd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../app/contract/errors.js';
import { DEFAULT_PROJECT_LIMITS, readProjectFile } from '../../app/projects/atelier-file.js';
import { STACK_XML_LIMITS, parseStackXml, readOra, readPsdLayers } from '../../app/projects/import.js';
import { MAX_IMAGE_PIXELS, flatten, sharpImage } from '../../app/projects/render.js';
import { flattenToPngInStrips } from '../../app/projects/render-strips.js';
import { addAsset, addLayer, createDocument, createLayer } from '../../app/projects/document/index.js';
import { LAYERED_EXPORT_MAX_BYTES, exportProject } from '../../app/projects/export.js';
import { buildSampleProject } from '../fixtures/projects/sample-document.js';
import { realPng } from '../fixtures/projects/real-png.js';
import { DECODE_BUDGET, DecodeBudget, withZip } from '../../app/projects/zip.js';
import { createStudio, type StudioService } from '../../app/service/index.js';
import { TINY_PNG, craftZip, documentWith, hostileProjects, pngHeader } from '../fixtures/projects/craft.js';
import { tempHome } from '../helpers/home.js';

// Issue 17: linear-time stack.xml parsing, lazy zip entries, memory budgets for imports, and
// one pixel limit (16384²) shared by the contract, sharp and the importers.

async function refusal(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error('expected a refusal');
}

const ora = (stack: string, extra: Parameters<typeof craftZip>[0] = []) =>
  craftZip([{ name: 'mimetype', data: 'image/openraster', deflate: false }, { name: 'stack.xml', data: stack }, ...extra]);
const oneLayer = (name: string) => ora(`<image w="1" h="1"><stack><layer src="a.png" name="${name}"/></stack></image>`, [{ name: 'a.png', data: TINY_PNG, deflate: false }]);

const manifest = JSON.stringify({ format: 'atelier', schemaVersion: 1, appVersion: '0.1.0', savedAt: '2026-11-26T00:00:00.000Z', document: 'document.json', parts: [] });

/** A bilevel PNG of any size whose pixel data costs almost nothing to make: for pixel-limit boundaries. */
function bilevelPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const b = Buffer.alloc(12 + data.length);
    b.writeUInt32BE(data.length, 0);
    b.write(type, 4, 'latin1');
    data.copy(b, 8);
    b.writeUInt32BE(zlib.crc32(b.subarray(4, 8 + data.length)), 8 + data.length);
    return b;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([1, 0, 0, 0, 0], 8);
  const rows = zlib.deflateSync(Buffer.alloc((Math.ceil(width / 8) + 1) * height), { level: 1 });
  return Buffer.concat([TINY_PNG.subarray(0, 8), chunk('IHDR', ihdr), chunk('IDAT', rows), chunk('IEND', Buffer.alloc(0))]);
}

function psdWith(layers: Array<{ width: number; height: number; left?: number }>, canvas = { width: 64, height: 64 }): Buffer {
  const children: PsdLayer[] = layers.map((l, i) => ({
    name: `L${i}`,
    left: l.left ?? 0,
    top: 0,
    right: (l.left ?? 0) + l.width,
    bottom: l.height,
    imageData: { width: l.width, height: l.height, data: new Uint8ClampedArray(l.width * l.height * 4).fill(200) } as never,
  }));
  return Buffer.from(writePsdBuffer({ ...canvas, channels: 4, bitsPerChannel: 8, colorMode: 3, children } as never, { generateThumbnail: false, noBackground: true }));
}

describe('OpenRaster stack.xml (saxes, linear time)', () => {
  let home: ReturnType<typeof tempHome>;
  let studio: StudioService;

  beforeAll(async () => {
    home = tempHome();
    studio = await createStudio({ transport: 'web', home: home.home });
  });
  afterAll(async () => {
    await studio.close();
    home.cleanup();
  });

  it('decodes XML entities and character references in names', async () => {
    const imported = await readOra(oneLayer('Sky &amp; sea &#x263A; &lt;3'));
    expect(imported.layers[0]!.name).toBe('Sky & sea ☺ <3');
  });

  it.each(['&#x110000;', '&#0;', '&#xD800;', '&#99999999999;', '&bogus;', '&#x;'])('refuses the bad reference %s as invalid_file, never internal', async (ref) => {
    const file = path.join(home.home, 'bad-ref.ora');
    fs.writeFileSync(file, oneLayer(`a${ref}b`));
    for (const call of [() => studio.call('projects.open', { path: file }), () => studio.call('projects.importLayers', { path: file })]) {
      const error = await refusal(call());
      expect(error.code).toBe('invalid_file');
      expect(error.message).toMatch(/stack\.xml is not well-formed XML/);
    }
  });

  it('refuses a DTD, a foreign root, deep nesting and too many elements', () => {
    const invalid = (xml: string) => {
      try {
        parseStackXml(Buffer.from(xml));
      } catch (error) {
        expect(error).toMatchObject({ code: 'invalid_file' });
        return (error as ApiError).message;
      }
      throw new Error('expected a refusal');
    };
    expect(invalid('<!DOCTYPE image SYSTEM "file:///etc/passwd"><image w="1" h="1"/>')).toMatch(/declares a DTD/);
    expect(invalid('<svg/>')).toMatch(/root is <svg>/);
    expect(invalid(`<image w="1" h="1">${'<stack>'.repeat(100)}${'</stack>'.repeat(100)}</image>`)).toMatch(/nests deeper than 64/);
    expect(invalid(`<image w="1" h="1"><stack>${'<layer/>'.repeat(STACK_XML_LIMITS.maxElements)}</stack></image>`)).toMatch(/more than 20000 elements/);
    expect(invalid(`<image w="1" h="1">${' '.repeat(STACK_XML_LIMITS.maxBytes)}</image>`)).toMatch(/at most 4194304 are accepted/);
  });

  // The regexes this replaces took 109 s on 160 kB; the time is measured in `npm run bench:hostile`.
  it.each([
    ['an unclosed attribute run', `<image w="1" h="1"><layer ${'a="x" '.repeat(170_000)}`],
    ['a million "<layer " openings', `<image w="1" h="1">${'<layer '.repeat(170_000)}`],
    ['a megabyte attribute value', `<image w="1" h="1"><stack><layer src="a.png" name="${'&amp;'.repeat(200_000)}"/></stack></image>`],
  ])('answers a 1 MB adversarial stack.xml (%s) with a typed result', async (_name, xml) => {
    expect(xml.length).toBeGreaterThan(1_000_000);
    const result = await readOra(ora(xml, [{ name: 'a.png', data: TINY_PNG, deflate: false }])).then(
      (imported) => imported.layers.length,
      (error: unknown) => (error instanceof ApiError ? error.code : 'untyped'),
    );
    expect(['invalid_file', 1]).toContain(result);
  });
});

describe('zip entries are inflated only when referenced', () => {
  // Deflated zeros whose header claims 1000 bytes: inflating it at all is refused ("inflates past").
  const liar = { data: Buffer.alloc(8 * 1024 * 1024), declaredSize: 1000 };

  it('opens a project whose unreferenced entry would fail to inflate', async () => {
    const bytes = craftZip([
      { name: 'manifest.json', data: manifest },
      { name: 'document.json', data: documentWith('parts/p.png') },
      { name: 'parts/p.png', data: TINY_PNG, deflate: false },
      { name: 'parts/junk.png', ...liar },
    ]);
    expect((await readProjectFile(bytes)).document.layers).toHaveLength(1);
    // The same entry, once referenced, is read and refused.
    const referenced = craftZip([
      { name: 'manifest.json', data: manifest },
      { name: 'document.json', data: documentWith('parts/junk.png') },
      { name: 'parts/junk.png', ...liar },
    ]);
    expect((await refusal(readProjectFile(referenced))).message).toMatch(/"parts\/junk\.png" is corrupt: too many bytes|inflates past the 1000 bytes/);
  });

  it('opens an OpenRaster file whose unreferenced entries would fail to inflate', async () => {
    const imported = await readOra(
      ora('<image w="1" h="1"><stack><layer src="a.png"/></stack></image>', [
        { name: 'a.png', data: TINY_PNG, deflate: false },
        { name: 'mergedimage.png', ...liar },
      ]),
    );
    expect(imported.layers).toHaveLength(1);
  });

  it('takes inflated bytes from one process-wide budget and gives them back', async () => {
    const budget = new DecodeBudget(1000);
    const bytes = craftZip([{ name: 'a.bin', data: Buffer.alloc(600) }, { name: 'b.bin', data: Buffer.alloc(600) }]);
    const error = await refusal(
      withZip(bytes, DEFAULT_PROJECT_LIMITS, 'file', async (zip) => {
        await zip.read('a.bin');
        expect(budget.inUse).toBe(600);
        await zip.read('b.bin');
      }, budget),
    );
    expect(error.code).toBe('busy');
    expect(error.message).toMatch(/at most 1000 bytes at once/);
    expect(budget.inUse).toBe(0);
    // The shared budget: while other imports hold it, an upload is refused as busy, then opens.
    const project = craftZip([{ name: 'manifest.json', data: manifest }, { name: 'document.json', data: documentWith('parts/p.png') }, { name: 'parts/p.png', data: TINY_PNG, deflate: false }]);
    DECODE_BUDGET.reserve(DECODE_BUDGET.limitBytes - 100, 'a test');
    try {
      expect((await refusal(readProjectFile(project))).code).toBe('busy');
    } finally {
      DECODE_BUDGET.release(DECODE_BUDGET.limitBytes - 100);
    }
    expect((await readProjectFile(project)).document.layers).toHaveLength(1);
    expect(DECODE_BUDGET.inUse).toBe(0);
  });
});

describe('PSD memory budget and the 16384 boundary', () => {
  it('refuses layers whose decoded pixels together pass the budget, naming it', async () => {
    const psd = psdWith([{ width: 64, height: 64 }, { width: 64, height: 64 }, { width: 64, height: 64 }]);
    expect((await readPsdLayers(psd)).layers).toHaveLength(3);
    const error = await refusal(readPsdLayers(psd, { ...DEFAULT_PROJECT_LIMITS, maxTotalBytes: 40_000 }));
    expect(error.code).toBe('invalid_file');
    expect(error.message).toMatch(/decode to more than 40000 bytes of pixels \(the import memory budget\), at layer "L2"/);
    expect(DECODE_BUDGET.inUse).toBe(0);
  });

  it('accepts a 16384-pixel-wide layer and refuses 16385', async () => {
    const canvas = { width: 16_384, height: 1 };
    const ok = await readPsdLayers(psdWith([{ width: 16_384, height: 1 }], canvas));
    expect(ok.layers[0]).toMatchObject({ width: 16_384, height: 1 });
    const error = await refusal(readPsdLayers(psdWith([{ width: 16_385, height: 1 }], canvas)));
    expect(error).toMatchObject({ code: 'invalid_file', message: expect.stringMatching(/16385×1 pixels; at most 16384 per side/) });
  });

  it('sharp reads up to the contract limit of 16384² pixels and refuses one column more', async () => {
    expect(MAX_IMAGE_PIXELS).toBe(16_384 * 16_384);
    const corner = (png: Buffer) => sharpImage(png).extract({ left: 0, top: 0, width: 1, height: 1 }).raw().toBuffer();
    // Decoded to RGB: three bytes for the one corner pixel.
    expect(await corner(bilevelPng(16_384, 16_384))).toHaveLength(3);
    await expect(corner(bilevelPng(16_385, 16_384))).rejects.toThrow(/pixel limit/);
    expect(DEFAULT_PROJECT_LIMITS).toMatchObject({ maxImageSide: 16_384, maxImagePixels: MAX_IMAGE_PIXELS });
  });
});

describe('paths and formats the projects area refuses up front', () => {
  let home: ReturnType<typeof tempHome>;
  let studio: StudioService;
  let project: string;

  beforeAll(async () => {
    home = tempHome();
    studio = await createStudio({ transport: 'web', home: home.home });
    project = path.join(home.home, 'p.atelier');
    fs.writeFileSync(project, hostileProjects['a valid control (must open)']!.bytes());
  });
  afterAll(async () => {
    await studio.close();
    home.cleanup();
  });

  it.runIf(process.platform === 'linux')('refuses an export to /proc, /sys, a device or a FIFO with bad_request, at once', async () => {
    const fifo = path.join(home.home, 'pipe.png');
    execFileSync('mkfifo', [fifo]);
    for (const out of ['/proc/x/y.png', '/proc/self/fd/1', '/sys/y.png', '/dev/null', fifo]) {
      const error = await refusal(studio.call('projects.export', { path: project, format: 'png', out }));
      expect(error.code).toBe('bad_request');
      expect(error.message).toMatch(/special file system|not a regular file/);
    }
    // And the ordinary export still works.
    const out = path.join(home.home, 'out', 'flat.png');
    expect(await studio.call('projects.export', { path: project, format: 'png', out })).toMatchObject({ out });
  });

  it.runIf(process.platform === 'linux')('never opens a FIFO for reading (it would block), and refuses saving into /proc', async () => {
    const fifo = path.join(home.home, 'waiting.atelier');
    execFileSync('mkfifo', [fifo]);
    const calls = [
      () => studio.call('projects.info', { path: fifo }),
      () => studio.call('projects.open', { path: fifo }),
      () => studio.call('projects.importLayers', { path: fifo }),
      () => studio.call('projects.export', { path: fifo, format: 'png', out: path.join(home.home, 'x.png') }),
    ];
    for (const call of calls) expect((await refusal(call())).message).toMatch(/is not a (regular )?file/);
    const opened = await studio.call('projects.new', { width: 8, height: 8 });
    const error = await refusal(studio.call('projects.saveAs', { sessionId: opened.sessionId, path: '/proc/x/p.atelier', assets: {} }));
    expect(error).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/special file system/) });
    await studio.call('projects.close', { sessionId: opened.sessionId });
  });

  it('exporting a project whose image passed the header checks but does not decode is invalid_file, not internal', async () => {
    const file = path.join(home.home, 'truncated.ora');
    fs.writeFileSync(file, ora('<image w="2" h="2"><stack><layer src="a.png"/></stack></image>', [{ name: 'a.png', data: pngHeader(2, 2), deflate: false }]));
    const opened = await studio.call('projects.open', { path: file });
    for (const format of ['png', 'ora', 'psd'] as const) {
      const error = await refusal(studio.call('projects.export', { sessionId: opened.sessionId, format, out: path.join(home.home, `t.${format}`) }));
      expect(error).toMatchObject({ code: 'invalid_file', message: expect.stringMatching(/An image in the project cannot be decoded/) });
    }
    await studio.call('projects.close', { sessionId: opened.sessionId });
  });

  it('project info on an .ora or .psd says it is not an .atelier file', async () => {
    const oraFile = path.join(home.home, 'layers.ora');
    fs.writeFileSync(oraFile, oneLayer('a'));
    const psdFile = path.join(home.home, 'layers.psd');
    fs.writeFileSync(psdFile, psdWith([{ width: 4, height: 4 }]));
    const renamedOra = path.join(home.home, 'renamed.atelier');
    fs.writeFileSync(renamedOra, oneLayer('a'));
    expect(await refusal(studio.call('projects.info', { path: oraFile }))).toMatchObject({ code: 'invalid_file', message: 'layers.ora is not an .atelier file (it is an OpenRaster file): open it in the studio to make a project of it' });
    expect(await refusal(studio.call('projects.info', { path: psdFile }))).toMatchObject({ code: 'invalid_file', message: expect.stringMatching(/^layers\.psd is not an \.atelier file \(it is a PSD file\)/) });
    expect((await refusal(studio.call('projects.info', { path: renamedOra }))).message).toMatch(/not an \.atelier file \(it looks like an OpenRaster file\)/);
    expect(await studio.call('projects.info', { path: project })).toMatchObject({ name: 'Hostile' });
  });
});

describe('large exports in strips', () => {
  it('refuses a layered export past the budget up front, naming the limit', async () => {
    const { assets, ref } = addAsset({}, TINY_PNG, 'tiny');
    const doc = addLayer(createDocument({ name: 'Wide', width: 16_384, height: 16_384 }), createLayer('paint', { id: 'p', name: 'Stretched', image: ref, x: 0, y: 0, width: 16_384, height: 16_384 }));
    for (const format of ['ora', 'psd'] as const) {
      const error = await refusal(exportProject(format, doc, assets, { appVersion: 'test' }));
      expect(error).toMatchObject({ code: 'bad_request', details: { limitBytes: LAYERED_EXPORT_MAX_BYTES } });
      expect(error.message).toMatch(/would hold 2147483648 bytes of pixels at once; at most 1073741824/);
    }
  });

  it('makes the same pixels as flattening in one piece: offsets, scaling, clipping, vectors, opacity', async () => {
    const { document, assets } = buildSampleProject(realPng, 300, 700);
    const doc = {
      ...document,
      canvas: { ...document.canvas, background: '#336699' },
      layers: document.layers.map((l) => {
        if (l.kind === 'shapes') return { ...l, visible: true };
        // Scaled, at a fractional offset, partly off the canvas, across strip boundaries.
        if (l.kind === 'reference') return { ...l, x: -5.5, y: 240.25, width: 90.3, height: 300 };
        return l;
      }),
    };
    const whole = await flatten(doc, assets);
    const strips = await sharpImage(await flattenToPngInStrips(doc, assets)).raw().toBuffer({ resolveWithObject: true });
    expect(strips.info).toMatchObject({ width: 300, height: 700, channels: 4 });
    expect(Buffer.from(strips.data).equals(Buffer.from(whole.data))).toBe(true);
  });
});
