// npm run bench:projects — times the project file work an artist waits for: save (encode +
// atomic write + fsync), open (read + validate + migrate), and each export, on a project of
// N raster layers of noise (incompressible, the worst case for size) at a given canvas size,
// plus the sample's sketch/shape/control layers. Prints median and max of a few repeats.
// Usage: npm run bench:projects [-- --size 1024 --layers 8 --repeat 5]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { PNG } from 'pngjs';
import { encodeProjectFile, readProjectFile } from '../app/projects/atelier-file.js';
import { addAsset, addLayer, createLayer, resizeCanvas } from '../app/projects/document/index.js';
import { exportProject } from '../app/projects/export.js';
import { writeFileAtomic } from '../app/projects/safe-save.js';
import { buildSampleProject } from '../tests/fixtures/projects/sample-document.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SIZE = arg('size', 1024);
const LAYERS = arg('layers', 8);
const REPEAT = arg('repeat', 5);

let seed = 1;
function noisePng(width: number, height: number): Uint8Array {
  const png = new PNG({ width, height });
  for (let i = 0; i < png.data.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    png.data[i] = i % 4 === 3 ? 255 : seed >>> 24;
  }
  return new Uint8Array(PNG.sync.write(png));
}

let { document, assets } = buildSampleProject((_n, w, h) => noisePng(w, h), SIZE, SIZE);
document = resizeCanvas(document, SIZE, SIZE);
for (let i = 0; i < LAYERS; i++) {
  const added = addAsset(assets, noisePng(SIZE, SIZE), `bench${i}`);
  assets = added.assets;
  document = addLayer(document, createLayer('paint', { id: `bench${i}`, name: `Paint ${i}`, image: added.ref, x: 0, y: 0, width: SIZE, height: SIZE, opacity: 0.8 }));
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-bench-projects-'));
const file = path.join(dir, 'bench.atelier');

async function time(label: string, fn: () => Promise<unknown>): Promise<void> {
  const ms: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const start = performance.now();
    await fn();
    ms.push(performance.now() - start);
  }
  ms.sort((a, b) => a - b);
  console.log(`${label.padEnd(22)} median ${ms[Math.floor(ms.length / 2)]!.toFixed(0).padStart(6)} ms   max ${ms.at(-1)!.toFixed(0).padStart(6)} ms`);
}

try {
  await time('save (.atelier)', async () => writeFileAtomic(file, await encodeProjectFile(document, assets, 'bench')));
  const size = fs.statSync(file).size;
  await time('open (.atelier)', () => readProjectFile(file));
  for (const format of ['png', 'ora', 'psd', 'contact-sheet'] as const) await time(`export ${format}`, () => exportProject(format, document, assets, { appVersion: 'bench' }));
  console.log(`project: ${SIZE}×${SIZE}, ${document.layers.length} layers, ${Object.keys(assets).length} images, file ${(size / 1024 / 1024).toFixed(1)} MiB; ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
