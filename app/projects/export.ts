import { Buffer } from 'node:buffer';
import { writePsdBuffer, type Layer as PsdLayer, type Psd } from 'ag-psd';
import sharp, { type OverlayOptions } from 'sharp';
import { ApiError } from '../contract/errors.js';
import { GenerationRequest } from '../contract/generation.js';
import type { Generation, ProjectDocument } from '../contract/projects.js';
import { type PngStamp, stampPng } from '../formats/stamp.js';
import { type ProjectAssets, findCandidate, requestFromSettings, sourceKey } from './document/index.js';
import { pngBytes } from './png-data.js';
import { type PlacedPixels, type Rgba, encodePng, flatten, placeLayer, sharpImage } from './render.js';
import { STRIP_EXPORT_PIXELS, flattenToPngInStrips } from './render-strips.js';
import { DEFAULT_PROJECT_LIMITS } from './atelier-file.js';
import { writeZip } from './zip.js';

// Exports: a flattened PNG carrying generation metadata, OpenRaster (.ora) and PSD with the
// layers, and a contact sheet of one generation's candidates with their seeds.

/**
 * The request behind the picture: the topmost visible generated layer's generation with its
 * candidate's seed, else the project's settings. Read by A1111-style tools and our own import.
 */
function pictureStamp(doc: ProjectDocument, appVersion: string): PngStamp {
  const { width, height } = doc.canvas;
  const top = [...doc.layers].reverse().find((l) => l.kind === 'generated' && l.visible);
  const found = top?.kind === 'generated' ? findCandidate(doc, top.candidateId) : undefined;
  if (found) {
    const request = GenerationRequest.safeParse({ ...found.generation.request, seed: found.candidate.seed });
    if (request.success) {
      const { candidate, generation } = found;
      return { request: request.data, seed: candidate.seed, width: candidate.width, height: candidate.height, generationId: generation.id, candidateId: candidate.id, index: candidate.index, appVersion, project: doc.name };
    }
  }
  const request = GenerationRequest.parse(requestFromSettings(doc.settings, doc.settings.seed));
  return { request, seed: request.seed, width, height, appVersion, project: doc.name };
}

export async function exportFlattenedPng(doc: ProjectDocument, assets: ProjectAssets, appVersion: string): Promise<Buffer> {
  // Large canvases in strips, so peak memory does not grow with the canvas (issue 17).
  const large = doc.canvas.width * doc.canvas.height > STRIP_EXPORT_PIXELS;
  return stampPng(large ? await flattenToPngInStrips(doc, assets) : await flatten(doc, assets), pictureStamp(doc, appVersion));
}

/** What a layered export may hold decoded at once: the import budget (DEFAULT_PROJECT_LIMITS.maxTotalBytes). */
export const LAYERED_EXPORT_MAX_BYTES = DEFAULT_PROJECT_LIMITS.maxTotalBytes;

/**
 * OpenRaster and PSD exports hold every layer's pixels and the merged picture decoded at once
 * (ag-psd takes whole images); past the budget they are refused up front with the limit named,
 * rather than growing without bound (issue 17). The flattened PNG streams in strips instead.
 */
function assertLayeredExportFits(doc: ProjectDocument, format: string): void {
  const canvas = doc.canvas.width * doc.canvas.height;
  let pixels = canvas; // the merged picture
  for (const layer of doc.layers) {
    const raster = 'image' in layer && layer.kind !== 'control' ? Math.max(1, Math.round(layer.width)) * Math.max(1, Math.round(layer.height)) : canvas;
    pixels += raster;
  }
  if (pixels * 4 > LAYERED_EXPORT_MAX_BYTES) {
    throw new ApiError('bad_request', `A ${format} export of this project would hold ${pixels * 4} bytes of pixels at once; at most ${LAYERED_EXPORT_MAX_BYTES} are allowed. Export a flattened PNG, or fewer or smaller layers.`, {
      limitBytes: LAYERED_EXPORT_MAX_BYTES,
    });
  }
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

async function thumbnail(image: Rgba, maxSide: number): Promise<Buffer> {
  return sharpImage(await encodePng(image)).resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true }).png().toBuffer();
}

/**
 * OpenRaster 0.0.6 (https://www.openraster.org/baseline/file-layout-spec.html): `mimetype`
 * first and stored, `stack.xml` listing layers top first, one PNG per layer, the merged image
 * and a thumbnail of at most 256 px. Krita and GIMP read names, opacity and visibility.
 */
export async function exportOra(doc: ProjectDocument, assets: ProjectAssets): Promise<Buffer> {
  assertLayeredExportFits(doc, 'OpenRaster');
  const { width, height } = doc.canvas;
  const layerEntries: Array<{ name: string; data: Uint8Array; compress: boolean }> = [];
  const stack: string[] = [];
  const placed = new Map<string, PlacedPixels>();
  for (const layer of [...doc.layers].reverse()) {
    const src = `data/${layer.id}.png`;
    const pixels = await placeLayer(doc, assets, layer);
    placed.set(layer.id, pixels);
    // Unscaled rasters go in as their own PNG at their offset: no re-encode, no loss.
    layerEntries.push({ name: src, data: pixels.png ?? (await encodePng(pixels.image)), compress: false });
    stack.push(
      `    <layer name="${escapeXml(layer.name)}" src="${src}" x="${pixels.left}" y="${pixels.top}" opacity="${layer.opacity}" visibility="${layer.visible ? 'visible' : 'hidden'}"` +
        ` composite-op="svg:src-over"${layer.locked ? ' edit-locked="true"' : ''}/>`,
    );
  }
  const merged = await flatten(doc, assets, placed);
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<image version="0.0.6" w="${width}" h="${height}" xres="72" yres="72">\n  <stack>\n${stack.join('\n')}\n  </stack>\n</image>\n`;
  return writeZip([
    { name: 'mimetype', data: Buffer.from('image/openraster'), compress: false },
    { name: 'stack.xml', data: Buffer.from(xml), compress: true },
    ...layerEntries,
    { name: 'mergedimage.png', data: await encodePng(merged), compress: false },
    { name: 'Thumbnails/thumbnail.png', data: await thumbnail(merged, 256), compress: false },
  ]);
}

/** PSD with one raster layer per document layer (names, opacity, visibility), via ag-psd's raw imageData (no canvas needed in Node). */
export async function exportPsd(doc: ProjectDocument, assets: ProjectAssets): Promise<Buffer> {
  assertLayeredExportFits(doc, 'PSD');
  const { width, height } = doc.canvas;
  const children: PsdLayer[] = [];
  const placed = new Map<string, PlacedPixels>();
  // ag-psd lists children bottom first, like the document.
  for (const layer of doc.layers) {
    const at = await placeLayer(doc, assets, layer);
    placed.set(layer.id, at);
    const pixels = at.image;
    children.push({
      name: layer.name,
      top: at.top,
      left: at.left,
      bottom: at.top + pixels.height,
      right: at.left + pixels.width,
      opacity: layer.opacity,
      hidden: !layer.visible,
      blendMode: 'normal',
      protected: layer.locked ? { composite: true, position: true, transparency: true } : undefined,
      imageData: { width: pixels.width, height: pixels.height, data: new Uint8ClampedArray(pixels.data.buffer, pixels.data.byteOffset, pixels.data.byteLength) },
    });
  }
  const merged = await flatten(doc, assets, placed);
  const psd: Psd = {
    width,
    height,
    channels: 4,
    bitsPerChannel: 8,
    colorMode: 3,
    children,
    imageData: { width, height, data: new Uint8ClampedArray(merged.data.buffer, merged.data.byteOffset, merged.data.byteLength) },
  };
  return Buffer.from(writePsdBuffer(psd, { generateThumbnail: false, noBackground: true }));
}

/**
 * A grid of a generation's candidates, each labelled with its index and seed, under a header
 * with the prompt: for comparing and for sharing what a seed made.
 */
export async function exportContactSheet(doc: ProjectDocument, assets: ProjectAssets, generationId?: string, cellSize = 256): Promise<Buffer> {
  const generation: Generation | undefined = generationId === undefined ? doc.generations.at(-1) : doc.generations.find((g) => g.id === generationId);
  if (!generation) throw new ApiError('not_found', generationId === undefined ? 'The project has no generations yet' : `No generation "${generationId}" in the project`);
  const candidates = generation.candidates.filter((c) => c.image !== null);
  if (candidates.length === 0) throw new ApiError('not_found', `Generation "${generation.id}" has no candidate images in the project`);
  const columns = Math.ceil(Math.sqrt(candidates.length));
  const rows = Math.ceil(candidates.length / columns);
  const gap = 8;
  const label = 22;
  const header = 30;
  const width = columns * (cellSize + gap) + gap;
  const height = header + rows * (cellSize + label + gap) + gap;
  const font = 'font-family="DejaVu Sans" font-size="14" fill="#222"';
  const prompt = String(generation.request.prompt ?? doc.settings.prompt);
  const texts = [`<text x="${gap}" y="20" ${font} font-weight="bold">${escapeXml(`${generation.mode} · ${prompt}`.slice(0, 160))}</text>`];
  const tiles: OverlayOptions[] = [];
  for (const [i, candidate] of candidates.entries()) {
    const x = gap + (i % columns) * (cellSize + gap);
    const y = header + Math.floor(i / columns) * (cellSize + label + gap);
    const tile = await sharpImage(pngBytes(assets[sourceKey(candidate.image!)] ?? ''))
      .resize(cellSize, cellSize, { fit: 'contain', background: { r: 255, g: 255, b: 255, alpha: 1 } })
      .png()
      .toBuffer();
    tiles.push({ input: tile, left: x, top: y });
    texts.push(`<text x="${x}" y="${y + cellSize + 16}" ${font}>#${candidate.index} · seed ${candidate.seed}${candidate.favourite ? ' ★' : ''}</text>`);
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${texts.join('')}</svg>`;
  return sharp({ create: { width, height, channels: 4, background: { r: 255, g: 255, b: 255, alpha: 1 } } })
    .composite([...tiles, { input: Buffer.from(svg), left: 0, top: 0 }])
    .png()
    .toBuffer();
}

export const EXPORT_FORMATS = ['png', 'ora', 'psd', 'contact-sheet'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export async function exportProject(
  format: ExportFormat,
  doc: ProjectDocument,
  assets: ProjectAssets,
  options: { appVersion: string; generationId?: string },
): Promise<Buffer> {
  switch (format) {
    case 'png':
      return exportFlattenedPng(doc, assets, options.appVersion);
    case 'ora':
      return exportOra(doc, assets);
    case 'psd':
      return exportPsd(doc, assets);
    case 'contact-sheet':
      return exportContactSheet(doc, assets, options.generationId);
  }
}
