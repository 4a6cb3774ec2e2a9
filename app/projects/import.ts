import type { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import path from 'node:path';
import { initializeCanvas, readPsd, type Layer as PsdLayer } from 'ag-psd';
import { SaxesParser } from 'saxes';
import { ApiError } from '../contract/errors.js';
import { z } from 'zod';
import { Layer as LayerSchema, type Layer, type PaintLayer, ProjectDocument } from '../contract/projects.js';
import { type ProjectAssets, addAsset, createDocument, createLayer, newId, sourceKey } from './document/index.js';
import { DEFAULT_PROJECT_LIMITS, type ProjectLimits, checkPng, readProjectFile } from './atelier-file.js';
import { pngDataUrl } from './png-data.js';
import { sharpRaw, sharpImage } from './render.js';
import { DECODE_BUDGET, type ZipArchive, withZip } from './zip.js';

// Imports: .atelier of any version, OpenRaster, PSD (each layer a raster layer) and plain
// images. All of it is hostile input: sizes are checked from headers before any decode.

// ag-psd decodes layer pixels into ImageData-shaped objects it gets from a canvas; Node has no
// canvas, and plain { width, height, data } objects are all `useImageData` reading needs.
initializeCanvas(
  () => {
    throw new Error('Atelier reads PSD pixels as raw image data; no canvas is available');
  },
  (width, height) => ({ width, height, data: new Uint8ClampedArray(width * height * 4), colorSpace: 'srgb' }) as never,
);

export type ImportSource = 'atelier' | 'ora' | 'psd' | 'image';

export interface ImportedLayers {
  source: ImportSource;
  canvas: { width: number; height: number };
  /** Bottom first, ready for addLayer. */
  layers: Layer[];
  assets: ProjectAssets;
}

function invalid(message: string, details?: unknown): never {
  throw new ApiError('invalid_file', message, details);
}

async function readBounded(file: string, maxBytes: number): Promise<Buffer> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (error) {
    throw new ApiError('not_found', `Cannot read ${file}: ${(error as Error).message}`);
  }
  if (!stat.isFile()) throw new ApiError('bad_request', `${file} is not a file`);
  if (stat.size > maxBytes) invalid(`${path.basename(file)} is ${stat.size} bytes; at most ${maxBytes} are accepted`);
  return fs.readFile(file);
}

export function detectSource(file: string, head: Uint8Array): ImportSource {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.atelier') return 'atelier';
  if (ext === '.ora') return 'ora';
  if (ext === '.psd' || (head[0] === 0x38 && head[1] === 0x42 && head[2] === 0x50 && head[3] === 0x53)) return 'psd';
  return 'image';
}

function number(value: string | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) invalid(`OpenRaster ${what} "${value.slice(0, 40)}" is not a number`);
  return n;
}

/** Bounds on stack.xml: a 1000-layer stack is ~200 KB; nothing legitimate nests 64 stacks deep. */
export const STACK_XML_LIMITS = { maxBytes: 4 * 1024 * 1024, maxElements: 20_000, maxDepth: 64 };

/**
 * The attributes of <image> and of every <layer> (top first, nested stacks flattened in
 * drawing order) from OpenRaster's stack.xml, read by saxes: a streaming, linear-time,
 * well-formedness-checking parser. It expands only XML's five entities and character
 * references, refuses undefined entities and invalid characters (`&#x110000;`), and a DTD is
 * refused before it could declare anything. Replaces regexes that took quadratic time on
 * crafted input (issue 17).
 */
export function parseStackXml(bytes: Buffer): { image: Record<string, string>; layers: Array<Record<string, string>> } {
  if (bytes.length > STACK_XML_LIMITS.maxBytes) invalid(`stack.xml is ${bytes.length} bytes; at most ${STACK_XML_LIMITS.maxBytes} are accepted`);
  const parser = new SaxesParser({ xmlns: false, position: true });
  let image: Record<string, string> | null = null;
  const layers: Array<Record<string, string>> = [];
  let elements = 0;
  let depth = 0;
  parser.on('doctype', () => invalid('stack.xml declares a DTD, which OpenRaster does not use'));
  parser.on('opentag', (tag) => {
    if (++elements > STACK_XML_LIMITS.maxElements) invalid(`stack.xml has more than ${STACK_XML_LIMITS.maxElements} elements`);
    if (++depth > STACK_XML_LIMITS.maxDepth) invalid(`stack.xml nests deeper than ${STACK_XML_LIMITS.maxDepth} levels`);
    if (depth === 1 && tag.name !== 'image') invalid(`stack.xml's root is <${tag.name.slice(0, 40)}>, not <image>`);
    if (depth === 1) image = { ...tag.attributes };
    else if (tag.name === 'layer') layers.push({ ...tag.attributes });
  });
  parser.on('closetag', () => {
    depth--;
  });
  parser.on('error', (error) => invalid(`stack.xml is not well-formed XML: ${error.message}`));
  parser.write(bytes.toString('utf8')).close();
  if (!image) invalid('stack.xml has no <image> element');
  return { image, layers };
}

/**
 * OpenRaster: stack.xml (layers top first; nested stacks are flattened in drawing order) and
 * one PNG per layer. Only the entries stack.xml names are inflated.
 */
export async function readOra(source: string | Buffer, limits: ProjectLimits = DEFAULT_PROJECT_LIMITS): Promise<ImportedLayers> {
  return withZip(source, limits, 'OpenRaster file', (zip) => readOraEntries(zip, limits));
}

async function readOraEntries(files: ZipArchive, limits: ProjectLimits): Promise<ImportedLayers> {
  const mimetype = (await files.read('mimetype'))?.toString('latin1').trim();
  if (mimetype !== 'image/openraster') invalid('Not an OpenRaster file: its mimetype entry is not image/openraster');
  const stackXml = await files.read('stack.xml');
  if (!stackXml) invalid('The OpenRaster file has no stack.xml');
  const { image: imageAttrs, layers: topFirst } = parseStackXml(stackXml);
  const width = number(imageAttrs.w, NaN, 'width');
  const height = number(imageAttrs.h, NaN, 'height');
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > limits.maxImageSide || height > limits.maxImageSide) {
    invalid(`OpenRaster canvas ${String(imageAttrs.w).slice(0, 20)}×${String(imageAttrs.h).slice(0, 20)} is outside 1..${limits.maxImageSide}`);
  }
  if (topFirst.length > 1000) invalid(`The OpenRaster file has ${topFirst.length} layers; at most 1000 are accepted`);
  let assets: ProjectAssets = {};
  const layers: Layer[] = [];
  for (const attrs of topFirst.reverse()) {
    const src = attrs.src;
    if (!src) invalid('An OpenRaster layer has no src');
    const png = await files.read(src);
    if (!png) invalid(`OpenRaster layer "${(attrs.name ?? src).slice(0, 256)}" points to ${src.slice(0, 256)}, which the file does not contain`);
    const size = checkPng(png, src, limits);
    const opacity = number(attrs.opacity, 1, 'opacity');
    if (opacity < 0 || opacity > 1) invalid(`OpenRaster layer opacity ${opacity} is outside 0..1`);
    const added = addAsset(assets, pngDataUrl(png));
    assets = added.assets;
    layers.push(
      createLayer('paint', {
        name: (attrs.name ?? path.posix.basename(src, '.png')).slice(0, 256),
        visible: attrs.visibility !== 'hidden',
        locked: attrs['edit-locked'] === 'true',
        opacity,
        image: added.ref,
        x: number(attrs.x, 0, 'x'),
        y: number(attrs.y, 0, 'y'),
        width: size.width,
        height: size.height,
      }),
    );
  }
  return { source: 'ora', canvas: { width, height }, layers, assets };
}

/** PSD: every pixel layer (inside groups too) becomes a raster layer. Sizes are checked before decoding (ag-psd's advice for untrusted files). */
export async function readPsdLayers(bytes: Buffer, limits: ProjectLimits = DEFAULT_PROJECT_LIMITS): Promise<ImportedLayers> {
  if (bytes.length < 26 || bytes.toString('latin1', 0, 4) !== '8BPS') invalid('Not a PSD file (bad signature)');
  // File header (Adobe PSD spec, "File Header Section"): height then width at offsets 14 and 18.
  const height = bytes.readUInt32BE(14);
  const width = bytes.readUInt32BE(18);
  if (width < 1 || height < 1 || width > limits.maxImageSide || height > limits.maxImageSide) invalid(`PSD canvas ${width}×${height} is outside 1..${limits.maxImageSide}`);
  let structure;
  try {
    structure = readPsd(bytes, { skipLayerImageData: true, skipCompositeImageData: true, skipThumbnail: true });
  } catch (error) {
    invalid(`The PSD file is corrupt: ${(error as Error).message}`);
  }
  if (structure.bitsPerChannel !== undefined && structure.bitsPerChannel > 8) invalid(`Only 8-bit PSD files are read (this one has ${structure.bitsPerChannel} bits per channel)`);
  let count = 0;
  // ag-psd decodes every layer at once, so the sum over layers is what the process must hold.
  let decodedBytes = 0;
  const check = (layer: PsdLayer): void => {
    if (++count > 1000) invalid('The PSD file has more than 1000 layers');
    const w = Math.max(0, (layer.right ?? 0) - (layer.left ?? 0));
    const h = Math.max(0, (layer.bottom ?? 0) - (layer.top ?? 0));
    const name = JSON.stringify((layer.name ?? '').slice(0, 100));
    if (w > limits.maxImageSide || h > limits.maxImageSide || w * h > limits.maxImagePixels) {
      invalid(`PSD layer ${name} is ${w}×${h} pixels; at most ${limits.maxImageSide} per side are accepted`);
    }
    decodedBytes += w * h * 4;
    if (decodedBytes > limits.maxTotalBytes) {
      invalid(`The PSD file's layers decode to more than ${limits.maxTotalBytes} bytes of pixels (the import memory budget), at layer ${name}`, { limitBytes: limits.maxTotalBytes });
    }
    layer.children?.forEach(check);
  };
  structure.children?.forEach(check);
  DECODE_BUDGET.reserve(decodedBytes, 'the PSD file');
  try {
    return await decodePsdLayers(bytes, width, height, limits);
  } finally {
    DECODE_BUDGET.release(decodedBytes);
  }
}

async function decodePsdLayers(bytes: Buffer, width: number, height: number, limits: ProjectLimits): Promise<ImportedLayers> {
  let psd;
  try {
    psd = readPsd(bytes, { useImageData: true, skipCompositeImageData: true, skipThumbnail: true });
  } catch (error) {
    invalid(`The PSD file is corrupt: ${(error as Error).message}`);
  }
  let assets: ProjectAssets = {};
  const layers: Layer[] = [];
  const visit = async (layer: PsdLayer, hiddenAbove: boolean): Promise<void> => {
    if (layer.children) {
      for (const child of layer.children) await visit(child, hiddenAbove || layer.hidden === true);
      return;
    }
    const data = layer.imageData;
    if (!data || data.width === 0 || data.height === 0) return;
    if (data.width > limits.maxImageSide || data.height > limits.maxImageSide) invalid(`A PSD layer decoded to ${data.width}×${data.height} pixels, over the limit`);
    const png = await sharpRaw({ width: data.width, height: data.height, data: new Uint8Array(data.data.buffer, data.data.byteOffset, data.data.byteLength) })
      .png()
      .toBuffer()
      .catch((error: unknown) => invalid(`PSD layer "${(layer.name ?? '').slice(0, 100)}" cannot be encoded: ${error instanceof Error ? error.message : String(error)}`));
    const added = addAsset(assets, pngDataUrl(png));
    assets = added.assets;
    layers.push(
      createLayer('paint', {
        name: (layer.name ?? 'Layer').slice(0, 256),
        visible: !(hiddenAbove || layer.hidden === true),
        opacity: Math.min(1, Math.max(0, layer.opacity ?? 1)),
        image: added.ref,
        x: layer.left ?? 0,
        y: layer.top ?? 0,
        width: data.width,
        height: data.height,
      }),
    );
  };
  // ag-psd lists layers bottom first, as the document does.
  for (const layer of psd.children ?? []) await visit(layer, false);
  return { source: 'psd', canvas: { width, height }, layers, assets };
}

/** A plain image (PNG, JPEG, WebP, …) as one raster layer of its own size. */
export async function readImageLayer(bytes: Buffer, name: string, kind: 'paint' | 'reference' = 'paint', limits: ProjectLimits = DEFAULT_PROJECT_LIMITS): Promise<ImportedLayers> {
  let meta;
  try {
    meta = await sharpImage(bytes, { limitInputPixels: limits.maxImagePixels }).metadata();
  } catch (error) {
    invalid(`${name} is not an image Atelier can read: ${(error as Error).message}`);
  }
  const { width = 0, height = 0 } = meta;
  if (width < 1 || height < 1 || width > limits.maxImageSide || height > limits.maxImageSide) invalid(`${name} is ${width}×${height} pixels; at most ${limits.maxImageSide} per side are accepted`);
  let png: Buffer;
  try {
    // rotate() applies EXIF orientation so the layer looks as the photo does elsewhere.
    png = await sharpImage(bytes, { limitInputPixels: limits.maxImagePixels }).rotate().png().toBuffer();
  } catch (error) {
    invalid(`${name} could not be decoded: ${(error as Error).message}`);
  }
  const { width: w, height: h } = await sharpImage(png).metadata();
  const { assets, ref } = addAsset({}, pngDataUrl(png));
  const common = { name: name.slice(0, 256), image: ref, x: 0, y: 0, width: w!, height: h! };
  const layer = kind === 'reference' ? createLayer('reference', { ...common, source: name }) : (createLayer('paint', common) as PaintLayer);
  return { source: 'image', canvas: { width: w!, height: h! }, layers: [layer], assets };
}

/**
 * Another project's layers with new layer and part ids, so they cannot collide with the
 * document they join. Generated layers become paint layers: their candidates stay behind.
 */
function freshLayers(layers: readonly Layer[], assets: ProjectAssets): { layers: Layer[]; assets: ProjectAssets } {
  const ids = new Map(layers.map((l) => [l.id, newId('l')]));
  let out: ProjectAssets = {};
  const parts = new Map<string, string>();
  const part = (old: string): { part: string } => {
    let fresh = parts.get(old);
    if (!fresh) {
      const added = addAsset(out, assets[old] ?? invalid(`The project refers to ${old}, which it does not contain`));
      out = added.assets;
      fresh = added.ref.part;
      parts.set(old, fresh);
    }
    return { part: fresh };
  };
  const result = layers.map((layer): Layer => {
    const id = ids.get(layer.id)!;
    switch (layer.kind) {
      case 'sketch':
      case 'shapes':
        return { ...layer, id };
      case 'control':
        return { ...layer, id, image: layer.image && part(layer.image.part), sourceLayerId: layer.sourceLayerId && (ids.get(layer.sourceLayerId) ?? null) };
      case 'generated': {
        const { generationId: _g, candidateId: _c, kind: _k, ...rest } = layer;
        // A library image becomes a part of its own: the layer leaves its candidate behind.
        return { ...rest, kind: 'paint', id, image: part(sourceKey(layer.image)) };
      }
      default:
        return { ...layer, id, image: part(layer.image.part) };
    }
  });
  return { layers: result.filter((l) => l.kind !== 'control' || l.image !== null || l.sourceLayerId !== null), assets: out };
}

/** Layers from any importable file, to add to an open document. */
export async function importLayers(file: string, options: { kind?: 'paint' | 'reference'; limits?: ProjectLimits } = {}): Promise<ImportedLayers> {
  const imported = await readLayers(file, options);
  const checked = z.array(LayerSchema).max(1000).safeParse(imported.layers);
  if (!checked.success) invalid(`${path.basename(file)} has layers Atelier cannot hold: ${z.prettifyError(checked.error)}`);
  return { ...imported, layers: checked.data };
}

async function readLayers(file: string, options: { kind?: 'paint' | 'reference'; limits?: ProjectLimits }): Promise<ImportedLayers> {
  const limits = options.limits ?? DEFAULT_PROJECT_LIMITS;
  const bytes = await readBounded(file, limits.maxTotalBytes);
  switch (detectSource(file, bytes)) {
    case 'atelier': {
      const project = await readProjectFile(bytes, limits);
      return { source: 'atelier', canvas: project.document.canvas, ...freshLayers(project.document.layers, project.assets) };
    }
    case 'ora':
      return readOra(bytes, limits);
    case 'psd':
      return readPsdLayers(bytes, limits);
    case 'image':
      return readImageLayer(bytes, path.basename(file), options.kind, limits);
  }
}

/** Opens any importable file as a project: an .atelier as itself, anything else as a new document holding its layers. */
export async function openAsProject(
  file: string,
  limits: ProjectLimits = DEFAULT_PROJECT_LIMITS,
): Promise<{ document: ProjectDocument; assets: ProjectAssets; source: ImportSource; fileSchemaVersion: number | null }> {
  const bytes = await readBounded(file, limits.maxTotalBytes);
  const source = detectSource(file, bytes);
  if (source === 'atelier') {
    const project = await readProjectFile(bytes, limits);
    return { document: project.document, assets: project.assets, source, fileSchemaVersion: project.fileSchemaVersion };
  }
  const imported = source === 'ora' ? await readOra(bytes, limits) : source === 'psd' ? await readPsdLayers(bytes, limits) : await readImageLayer(bytes, path.basename(file), 'paint', limits);
  const name = path.basename(file, path.extname(file)).slice(0, 256) || 'Imported';
  const created = createDocument({ id: newId('p'), name, width: imported.canvas.width, height: imported.canvas.height });
  // Whatever another program wrote must make a valid document (offsets, names, counts) or be refused whole.
  const checked = ProjectDocument.safeParse({ ...created, layers: imported.layers });
  if (!checked.success) invalid(`${path.basename(file)} does not make a valid project: ${z.prettifyError(checked.error)}`);
  return { document: checked.data, assets: imported.assets, source, fileSchemaVersion: null };
}
