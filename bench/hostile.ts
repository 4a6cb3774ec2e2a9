// npm run bench:hostile — time and peak memory (max RSS) of the hostile inputs of issue 17,
// each read in a fresh child process so one case's memory does not hide another's:
//   ora-*     1 MB adversarial OpenRaster stack.xml files (quadratic for the old regexes);
//   psd-*     a PSD whose layers decode past the import budget, and an ordinary one;
//   zip-*     an .atelier carrying ~768 MB of unreferenced entries (86:1, under the bomb
//             ratio) and a referenced entry whose header lies about its size;
//   export-*  16000² and 16384² (the limit) flattened PNG exports of a project of ~5 MB
//             (strips: issue 17 asks for under 1 GB peak RSS).
// Usage: npm run bench:hostile [-- --only ora]
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { writePsdBuffer } from 'ag-psd';
import sharp from 'sharp';
import { ApiError } from '../app/contract/errors.js';
import { encodeProjectFile, readProjectFile } from '../app/projects/atelier-file.js';
import { addAsset, addLayer, addShape, addStroke, createDocument, createLayer } from '../app/projects/document/index.js';
import { exportProject } from '../app/projects/export.js';
import { readOra, readPsdLayers } from '../app/projects/import.js';
import { TINY_PNG, craftZip, documentWith } from '../tests/fixtures/projects/craft.js';

type Case = { name: string; make: (file: string) => Promise<void>; run: (file: string) => Promise<string> };

const outcome = async (work: Promise<unknown>): Promise<string> => {
  try {
    await work;
    return 'ok';
  } catch (error) {
    if (error instanceof ApiError) return `${error.code}: ${error.message.slice(0, 90)}`;
    throw error;
  }
};

const ora = (stack: string) =>
  craftZip([
    { name: 'mimetype', data: 'image/openraster', deflate: false },
    // Stored, not deflated: a 1 MB run of one pattern would be refused as a zip bomb before parsing.
    { name: 'stack.xml', data: stack, deflate: false },
    { name: 'a.png', data: TINY_PNG, deflate: false },
  ]);

function psd(layers: number, side: number): Buffer {
  // One flat image shared by every layer: RLE keeps the file small, decoding does not.
  const imageData = { width: side, height: side, data: new Uint8ClampedArray(side * side * 4).fill(128) };
  const children = Array.from({ length: layers }, (_, i) => ({ name: `L${i}`, left: 0, top: 0, right: side, bottom: side, imageData }));
  return Buffer.from(writePsdBuffer({ width: side, height: side, channels: 4, bitsPerChannel: 8, colorMode: 3, children } as never, { generateThumbnail: false, noBackground: true }));
}

const manifest = JSON.stringify({ format: 'atelier', schemaVersion: 1, appVersion: 'bench', savedAt: '2026-11-30T00:00:00.000Z', document: 'document.json', parts: ['parts/p.png'] });

async function bigProject(side: number): Promise<Buffer> {
  // sharp's own default limit is 16383²: the generator lifts it (the code under test does not).
  const paint = await sharp({ create: { width: side, height: side, channels: 4, background: { r: 200, g: 120, b: 40, alpha: 1 } }, limitInputPixels: false }).png().toBuffer();
  const patch = await sharp({ create: { width: 2000, height: 1500, channels: 4, background: { r: 20, g: 90, b: 200, alpha: 0.7 } } }).png().toBuffer();
  let doc = createDocument({ name: 'Huge', width: side, height: side });
  let assets = {};
  const a = addAsset(assets, paint, 'paint');
  const b = addAsset(a.assets, patch, 'patch');
  assets = b.assets;
  doc = addLayer(doc, createLayer('paint', { id: 'paint', name: 'Ground', image: a.ref, x: 0, y: 0, width: side, height: side }));
  doc = addLayer(doc, createLayer('paint', { id: 'patch', name: 'Patch', image: b.ref, x: 1000.5, y: 9000, width: 6000, height: 4500, opacity: 0.8 }));
  doc = addLayer(doc, createLayer('sketch', { id: 'sketch', name: 'Sketch', strokes: [] }));
  for (let i = 0; i < 50; i++) doc = addStroke(doc, 'sketch', { id: `s${i}`, tool: 'pen', colour: '#102030', width: 30, points: [i * 300, 0, 0.5, side - i * 300, side, 1] });
  doc = addLayer(doc, createLayer('shapes', { id: 'shapes', name: 'Shapes', shapes: [] }));
  doc = addShape(doc, 'shapes', { type: 'ellipse', id: 'e', stroke: '#00ff00', strokeWidth: 20, fill: '#00ff0040', x: 2000, y: 2000, width: 9000, height: 7000 });
  return encodeProjectFile(doc, assets, 'bench');
}

/** 16 KB of random bytes repeated: deflate finds every repeat (window 32 KB), about 86:1. */
function repeated(bytes: number): Buffer {
  const block = crypto.randomBytes(16 * 1024);
  const out = Buffer.alloc(bytes);
  for (let at = 0; at < bytes; at += block.length) block.copy(out, at);
  return out;
}

/** A valid one-layer project carrying three 256 MB entries nothing refers to. */
async function unreferencedProject(file: string): Promise<void> {
  const junk = repeated(256 * 1024 * 1024);
  const entries = [0, 1, 2].map((i) => ({ name: `parts/junk${i}.png`, data: junk }));
  fs.writeFileSync(file, craftZip([{ name: 'manifest.json', data: manifest }, { name: 'document.json', data: documentWith('parts/p.png') }, { name: 'parts/p.png', data: TINY_PNG, deflate: false }, ...entries]));
}

const cases: Case[] = [
  { name: 'ora-unclosed-attributes', make: async (f) => fs.writeFileSync(f, ora(`<image w="1" h="1"><layer ${'a="x" '.repeat(170_000)}`)), run: (f) => outcome(readOra(f)) },
  { name: 'ora-layer-openings', make: async (f) => fs.writeFileSync(f, ora(`<image w="1" h="1">${'<layer '.repeat(170_000)}`)), run: (f) => outcome(readOra(f)) },
  { name: 'ora-1000-layers-entities', make: async (f) => fs.writeFileSync(f, ora(`<image w="1" h="1"><stack>${`<layer src="a.png" name="${'&amp;&#x263A;'.repeat(80)}"/>`.repeat(1000)}</stack></image>`)), run: (f) => outcome(readOra(f)) },
  { name: 'psd-over-budget (5 × 8192²)', make: async (f) => fs.writeFileSync(f, psd(5, 8192)), run: (f) => outcome(readPsdLayers(fs.readFileSync(f))) },
  { name: 'psd-ordinary (2 × 2048²)', make: async (f) => fs.writeFileSync(f, psd(2, 2048)), run: (f) => outcome(readPsdLayers(fs.readFileSync(f))) },
  {
    name: 'zip-unreferenced-768MB',
    make: unreferencedProject,
    run: (f) => outcome(readProjectFile(f)),
  },
  {
    // The issue's "three concurrent uploads at 3.9 GB": the same file opened three times at once.
    name: 'zip-unreferenced-768MB ×3 at once',
    make: unreferencedProject,
    run: (f) => outcome(Promise.all([readProjectFile(f), readProjectFile(f), readProjectFile(f)])),
  },
  {
    name: 'zip-lying-referenced-entry',
    make: async (f) => {
      const bomb = Buffer.concat([TINY_PNG, Buffer.alloc(200 * 1024 * 1024)]);
      fs.writeFileSync(f, craftZip([{ name: 'manifest.json', data: manifest }, { name: 'document.json', data: documentWith('parts/p.png') }, { name: 'parts/p.png', data: bomb, declaredSize: 1000 }]));
    },
    run: (f) => outcome(readProjectFile(f)),
  },
  ...[16_000, 16_384].map((side) => ({
    name: `export-png-${side}²`,
    make: async (f: string) => fs.writeFileSync(f, await bigProject(side)),
    run: async (f: string) => {
      const { document, assets } = await readProjectFile(f);
      const png = await exportProject('png', document, assets, { appVersion: 'bench' });
      return `ok: ${png.length} bytes of PNG`;
    },
  })),
];

/**
 * This process's peak resident set. Linux's VmHWM belongs to the address space exec made;
 * getrusage's maxRSS survives exec and can report the parent's peak at spawn time instead.
 */
function peakRssMB(): number {
  const status = fs.existsSync('/proc/self/status') ? fs.readFileSync('/proc/self/status', 'utf8') : '';
  const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
  return (hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS) / 1024;
}

const [flag, caseName, file] = process.argv.slice(2);
if (flag === '--case') {
  // Child: run one case, report time and this process's peak resident set.
  const chosen = cases.find((c) => c.name === caseName)!;
  const start = performance.now();
  const cpu = process.cpuUsage();
  const result = await chosen.run(file!);
  const ms = performance.now() - start;
  // CPU time as well as wall time: on a shared machine the wall clock mostly measures the others.
  const used = process.cpuUsage(cpu);
  process.stdout.write(JSON.stringify({ ms, cpuMs: (used.user + used.system) / 1000, maxRssMB: peakRssMB(), result }) + '\n');
} else {
  const only = process.argv.indexOf('--only') > 0 ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-bench-hostile-'));
  console.log(`bench:hostile on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, load ${os.loadavg()[0]!.toFixed(1)}, node ${process.version}, ${new Date().toISOString()}`);
  try {
    for (const c of cases.filter((c) => !only || c.name.startsWith(only))) {
      const input = path.join(dir, c.name.replace(/[^a-z0-9-]+/gi, '_'));
      await c.make(input);
      const size = fs.statSync(input).size;
      const child = spawnSync(process.execPath, ['--import', 'tsx', 'bench/hostile.ts', '--case', c.name, input], { encoding: 'utf8', maxBuffer: 1 << 20 });
      const line = child.stdout.trim().split('\n').at(-1) ?? '';
      if (child.status !== 0 || !line.startsWith('{')) {
        console.log(`${c.name.padEnd(30)} FAILED (exit ${child.status}): ${child.stderr.slice(-400)}`);
        continue;
      }
      const r = JSON.parse(line) as { ms: number; cpuMs: number; maxRssMB: number; result: string };
      console.log(
        `${c.name.padEnd(30)} ${(size / 2 ** 20).toFixed(1).padStart(7)} MB in  ${r.ms.toFixed(0).padStart(7)} ms wall ${r.cpuMs.toFixed(0).padStart(7)} ms cpu  peak RSS ${r.maxRssMB.toFixed(0).padStart(6)} MB  ${r.result}`,
      );
      fs.rmSync(input);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
