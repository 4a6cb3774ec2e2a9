import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { CandidateSummary, GenerationRequestInput, StudioEvent } from '../app/contract/index.js';
import type { Candidate, GenerationSettings, Layer, ProjectDocument, Stroke } from '../app/contract/projects.js';
import {
  type ProjectAssets,
  addAsset,
  addCandidates,
  addGeneration,
  addLayer,
  addShape,
  addStroke,
  createControlLayer,
  createLayer,
  findCandidate,
  lineage,
  requestForDocument,
  requestFromSettings,
  setFavourite,
  setLayerProperties,
  updateSettings,
} from '../app/projects/document/index.js';
import { compositeOver, emptyRgba, encodePng, renderLayer } from '../app/projects/render.js';
import { backupPathOf } from '../app/projects/safe-save.js';
import { type StudioService, createStudio } from '../app/service/index.js';

// Builds resources/samples/lake-house.atelier: a small project with every layer kind and two
// rounds of refined candidates from the starter model, made through the StudioService the way
// the studio makes them (projects.new → layers → generate + job events → candidates filed into
// the document → accept → refine → projects.saveAs). Seeds are fixed and the device is the CPU,
// so the pictures come out the same on every run; ids and timestamps are fresh each time.
//
//   node --import tsx scripts/make-sample.ts [out.atelier]

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.resolve(process.argv[2] ?? path.join(ROOT, 'resources', 'samples', 'lake-house.atelier'));
/** Relative, so the recorded requests name no folder of this machine (the script runs from the repo root). */
const CONTROLNET = 'resources/models/starter/controlnet';
const SIZE = 256;

process.chdir(ROOT);

// ---- Pixels made here: the artist's hand-made rasters ------------------------------------------

async function svgPng(width: number, height: number, body: string): Promise<Uint8Array> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`;
  return new Uint8Array(await sharp(Buffer.from(svg)).png({ compressionLevel: 9 }).toBuffer());
}

/** A colour study the artist dropped in as a reference: sunset swatches. */
const referencePng = () =>
  svgPng(
    96,
    48,
    ['#2b2d5c', '#7a3e7a', '#e0714a', '#f4b25c', '#5f8f4e', '#3f6f9f']
      .map((c, i) => `<rect x="${(i % 3) * 32}" y="${Math.floor(i / 3) * 24}" width="32" height="24" fill="${c}"/>`)
      .join(''),
  );

/** Blocks of colour under the sketch: sky, hills, lake. */
const underpaintingPng = () =>
  svgPng(
    SIZE,
    SIZE,
    `<rect width="256" height="150" fill="#e89a5a"/><rect y="0" width="256" height="60" fill="#7a4f86" opacity="0.6"/>` +
      `<path d="M0 150 Q 70 120 140 140 T 256 135 L 256 200 L 0 200 Z" fill="#5f8f4e"/>` +
      `<rect y="196" width="256" height="60" fill="#3f6f9f"/>`,
  );

/** The mask the artist paints over the sky right of the tree and above the roof (white = repaint, black = keep). */
const skyMaskPng = () => svgPng(SIZE, SIZE, `<rect width="256" height="256" fill="#000"/><rect x="72" width="184" height="84" rx="10" fill="#fff"/>`);

// ---- Sketch strokes: a horizon, a house, a sun, a lollipop tree, the lake's edge ---------------

let strokeCount = 0;
/** A pen stroke through the points, pressure swelling in the middle as a hand's does. */
function stroke(points: Array<[number, number]>, width = 3, colour = '#1b1b1b'): Stroke {
  const flat: number[] = [];
  points.forEach(([x, y], i) => flat.push(x, y, 0.6 + 0.3 * Math.sin((Math.PI * i) / Math.max(1, points.length - 1))));
  return { id: `s${++strokeCount}`, tool: 'pen', colour, width, points: flat };
}
function polyline(a: [number, number], b: [number, number], n = 8): Array<[number, number]> {
  return Array.from({ length: n + 1 }, (_, i) => [a[0] + ((b[0] - a[0]) * i) / n, a[1] + ((b[1] - a[1]) * i) / n] as [number, number]);
}
function arc(cx: number, cy: number, rx: number, ry: number, from: number, to: number, n = 24): Array<[number, number]> {
  return Array.from({ length: n + 1 }, (_, i) => {
    const t = from + ((to - from) * i) / n;
    return [Math.round((cx + rx * Math.cos(t)) * 10) / 10, Math.round((cy + ry * Math.sin(t)) * 10) / 10] as [number, number];
  });
}
const SKETCH: Stroke[] = [
  stroke(polyline([0, 150], [256, 146], 16)), // horizon
  stroke([...polyline([96, 150], [96, 112]), ...polyline([96, 112], [146, 112]).slice(1), ...polyline([146, 112], [146, 150]).slice(1)]), // house walls
  stroke([...polyline([90, 114], [121, 88]), ...polyline([121, 88], [152, 114]).slice(1)]), // roof
  stroke(polyline([115, 150], [115, 132], 4).concat(polyline([115, 132], [127, 132], 3).slice(1), polyline([127, 132], [127, 150], 4).slice(1)), 2), // door
  stroke(arc(200, 48, 16, 16, 0, 2 * Math.PI)), // sun
  stroke(polyline([42, 152], [42, 108]), 4), // tree trunk
  stroke(arc(42, 90, 20, 22, 0, 2 * Math.PI)), // tree crown
  stroke(arc(128, 230, 120, 34, Math.PI, 2 * Math.PI, 32)), // lake edge
];

// ---- The studio, in process ----------------------------------------------------------------------

const events: StudioEvent[] = [];

function finished(jobId: string): Promise<Extract<StudioEvent, { type: 'job.completed' }>> {
  return new Promise((resolve, reject) => {
    const poll = () => {
      const mine = events.filter((e) => 'jobId' in e && e.jobId === jobId);
      const last = mine.find((e) => e.type === 'job.completed' || e.type === 'job.failed');
      if (last?.type === 'job.completed') return resolve(last);
      if (last?.type === 'job.failed') return reject(new Error(`job ${jobId} failed: ${last.error.message}`));
      setTimeout(poll, 50);
    };
    poll();
  });
}

/** The generation panel's fields as a request, as the studio's Generate button builds it. */
/** The settings through the studio's one mapping (requestFromSettings), with what each round adds. */
function requestFrom(s: GenerationSettings, extra: Partial<GenerationRequestInput>): GenerationRequestInput {
  return { ...requestFromSettings(s, s.seed), ...extra };
}

/** A layer rendered over a background colour, as a base64 PNG (what the canvas sends as a control map or mask). */
async function renderedPng(doc: ProjectDocument, assets: ProjectAssets, layer: Layer, background: string): Promise<string> {
  const out = emptyRgba(doc.canvas.width, doc.canvas.height);
  const bg = [1, 3, 5].map((o) => parseInt(background.slice(o, o + 2), 16));
  for (let i = 0; i < out.data.length; i += 4) out.data.set([...bg, 255], i);
  compositeOver(out, await renderLayer(doc, assets, { ...layer, opacity: 1 } as Layer), 1);
  return (await encodePng(out)).toString('base64');
}

/** Below masks and control layers, so guides stay on top of accepted images (as the studio does). */
function contentTop(layers: readonly Layer[]): number {
  let index = layers.length;
  while (index > 0 && (layers[index - 1]?.kind === 'mask' || layers[index - 1]?.kind === 'control')) index--;
  return index;
}

async function main(): Promise<void> {
  const started = Date.now();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'atelier-sample-'));
  const studio: StudioService = await createStudio({ transport: 'cli', home });
  studio.subscribe((e) => events.push(e));
  try {
    const opened = await studio.call('projects.new', { name: 'Lake house', width: SIZE, height: SIZE, background: '#ffffff' });
    const sessionId = opened.sessionId;
    let doc = opened.snapshot.document;
    let assets: ProjectAssets = opened.snapshot.assets;
    const asset = (id: string, png: Uint8Array) => {
      const added = addAsset(assets, png, id);
      assets = added.assets;
      return added.ref;
    };

    // Layers, bottom first.
    doc = addLayer(doc, createLayer('reference', { id: 'reference', name: 'Sunset colours', image: asset('reference', await referencePng()), x: 152, y: 8, width: 96, height: 48, source: 'colour study' }));
    doc = addLayer(doc, createLayer('paint', { id: 'underpainting', name: 'Underpainting', image: asset('underpainting', await underpaintingPng()), x: 0, y: 0, width: SIZE, height: SIZE, opacity: 0.8 }));
    doc = addLayer(doc, createLayer('sketch', { id: 'sketch', name: 'Sketch', strokes: [] }));
    for (const s of SKETCH) doc = addStroke(doc, 'sketch', s);
    doc = addLayer(doc, createLayer('shapes', { id: 'layout', name: 'Layout', shapes: [] }));
    doc = addShape(doc, 'layout', { type: 'region', id: 'house', stroke: '#c0392b', strokeWidth: 2, fill: null, x: 86, y: 84, width: 70, height: 70, label: 'red house' });
    doc = addShape(doc, 'layout', { type: 'ellipse', id: 'sun', stroke: '#e67e22', strokeWidth: 2, fill: '#f4b25c80', x: 182, y: 30, width: 36, height: 36 });
    doc = addShape(doc, 'layout', { type: 'rectangle', id: 'lake', stroke: '#2e86c1', strokeWidth: 2, fill: null, x: 8, y: 196, width: 240, height: 52 });
    doc = addShape(doc, 'layout', { type: 'line', id: 'horizon', stroke: '#7f8c8d', strokeWidth: 1, fill: null, x1: 0, y1: 150, x2: 256, y2: 146 });
    // Guides over the picture while composing; the accepted image covers them.
    doc = setLayerProperties(doc, 'layout', { opacity: 0.7 });
    doc = addLayer(doc, createLayer('mask', { id: 'mask', name: 'Sky mask', image: asset('mask-sky', await skyMaskPng()), x: 0, y: 0, width: SIZE, height: SIZE, colour: '#ff3b6b', visible: false }));
    doc = addLayer(doc, createControlLayer({ id: 'scribble', name: 'Scribble control', controlType: 'scribble', sourceLayerId: 'sketch' }));
    doc = updateSettings(doc, {
      model: 'starter',
      prompt: 'a red house beside a lake under a sunset sky, a tall tree on the left, the sun',
      negativePrompt: '',
      sampler: 'euler_a',
      steps: 12,
      cfg: 7,
      seed: 20_261_126,
      seedPolicy: 'fixed',
      batch: 3,
      strength: 0.6,
      maskBlur: 4,
      device: 'cpu',
    });
    await studio.call('projects.update', { sessionId, document: doc, assets });

    /** The control maps of the visible control layers (the sketch through scribble, rendered on white). */
    const controls = async (): Promise<NonNullable<GenerationRequestInput['controls']>> => {
      const out: NonNullable<GenerationRequestInput['controls']> = [];
      for (const l of doc.layers) {
        if (l.kind !== 'control' || !l.visible || !l.sourceLayerId) continue;
        const source = doc.layers.find((s) => s.id === l.sourceLayerId)!;
        out.push({ type: l.controlType, model: l.model ?? CONTROLNET, image: { png: await renderedPng(doc, assets, source, '#ffffff') }, preprocess: l.preprocess, weight: l.weight, start: l.start, end: l.end });
      }
      return out;
    };

    /** Generate, wait for the job, file the generation and its candidates into the document. */
    const run = async (label: string, extra: Partial<GenerationRequestInput>, mask?: { layerId: string; part: string }): Promise<Candidate[]> => {
      const request = requestFrom(doc.settings, { ...extra, projectId: doc.id });
      const t0 = Date.now();
      const { jobId } = await studio.call('generate', { request });
      const done = await finished(jobId);
      // As the studio files them: by the library image's hash; saving copies the library's bytes into the file.
      const candidates: Candidate[] = (done.candidates as CandidateSummary[]).map((c) => ({
        id: c.id, index: c.index, seed: c.seed, sha256: c.sha256, width: c.width, height: c.height, image: { sha256: c.sha256 }, favourite: false,
      }));
      const parent = request.parentCandidateId && findCandidate(doc, request.parentCandidateId) ? request.parentCandidateId : null;
      doc = addGeneration(doc, {
        id: done.generationId,
        createdAt: new Date().toISOString(),
        mode: request.inpaint ? 'inpaint' : request.init ? 'img2img' : 'txt2img',
        request: requestForDocument(request),
        parentCandidateId: parent,
        maskLayerId: mask?.layerId ?? null,
        maskSnapshot: mask ? { part: mask.part } : null,
        candidates: [],
      });
      doc = addCandidates(doc, done.generationId, candidates);
      await studio.call('projects.update', { sessionId, document: doc, assets });
      console.log(`${label}: ${candidates.length} candidates (seeds ${candidates.map((c) => c.seed).join(', ')}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return candidates;
    };
    const accept = (c: Candidate, layerId: string) => {
      const generation = findCandidate(doc, c.id)!.generation;
      const layer = createLayer('generated', { id: layerId, name: `Seed ${c.seed}`, image: c.image!, x: 0, y: 0, width: SIZE, height: SIZE, generationId: generation.id, candidateId: c.id });
      doc = addLayer(doc, layer, contentTop(doc.layers));
      doc = setFavourite(doc, c.id, true);
      return studio.call('library.rate', { candidateId: c.id, accepted: true, favourite: true });
    };

    // Round 1: the sketch through the scribble ControlNet, three candidates; the artist accepts one.
    const round1 = await run('round 1 (txt2img + scribble)', { controls: await controls() });
    const pick1 = round1[0]!;
    await accept(pick1, 'accepted-1');

    // Round 2: the sky repainted — the mask painted over it, inpainting the accepted candidate.
    doc = setLayerProperties(doc, 'mask', { visible: true });
    doc = updateSettings(doc, { prompt: 'a red house beside a lake under an orange sunset sky, a tall tree on the left, a bright sun, clouds', batch: 2, seed: 7 });
    const maskLayer = doc.layers.find((l) => l.id === 'mask')!;
    if (maskLayer.kind !== 'mask') throw new Error('the mask layer is missing');
    const maskPng = await renderedPng(doc, assets, maskLayer, '#000000');
    const round2 = await run(
      'round 2 (inpaint the sky)',
      { init: { sha256: pick1.sha256 }, strength: 0.75, controls: await controls(), parentCandidateId: pick1.id, inpaint: { mask: { png: maskPng }, blur: doc.settings.maskBlur, onlyMasked: false, padding: doc.settings.maskPadding } },
      { layerId: 'mask', part: maskLayer.image.part },
    );
    const pick2 = round2[1] ?? round2[0]!;

    // Round 3: img2img over the chosen round-2 candidate, gently, to settle the seams; mask off.
    doc = setLayerProperties(doc, 'mask', { visible: false });
    doc = updateSettings(doc, { batch: 2, seed: 11, strength: 0.35 });
    const round3 = await run('round 3 (img2img refine)', { init: { sha256: pick2.sha256 }, strength: 0.35, controls: await controls(), parentCandidateId: pick2.id });
    const pick3 = round3[0]!;
    await accept(pick3, 'accepted-3');
    doc = setLayerProperties(doc, 'accepted-1', { visible: false });

    const chain = lineage(doc, pick3.id).map((g) => g.mode);
    console.log(`lineage of the final picture: ${chain.join(' → ')}`);
    fs.mkdirSync(path.dirname(OUT), { recursive: true });
    const saved = await studio.call('projects.saveAs', { sessionId, path: OUT, document: doc, assets });
    await studio.call('projects.close', { sessionId });
    // Safe saving kept the previous sample as a backup; the script's output is the whole file, so it is not wanted.
    fs.rmSync(backupPathOf(saved.path), { force: true });
    console.log(`wrote ${path.relative(process.cwd(), saved.path)} (${(fs.statSync(saved.path).size / 1024).toFixed(0)} KiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await studio.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

await main();
