import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import path from 'node:path';
import { initializeCanvas, readPsd, type Layer as PsdLayer } from 'ag-psd';
import sharp from 'sharp';
import { ApiError } from '../contract/errors.js';
import { z } from 'zod';
import { Layer as LayerSchema, type Layer, type PaintLayer, ProjectDocument } from '../contract/projects.js';
import { type ProjectAssets, addAsset, createDocument, createLayer, newId } from './document/index.js';
import { DEFAULT_PROJECT_LIMITS, type ProjectLimits, checkPng, readProjectFile } from './atelier-file.js';
import { pngDataUrl } from './png-data.js';
import { readZip } from './zip.js';

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

function invalid(message: string): never {
  throw new ApiError('invalid_file', message);
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

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);/g, (_m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" } as Record<string, string>)[e]!;
  });
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) out[m[1]!] = decodeEntities(m[2] ?? m[3] ?? '');
  return out;
}

function number(value: string | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) invalid(`OpenRaster ${what} "${value}" is not a number`);
  return n;
}

/**
 * OpenRaster: stack.xml (layers top first; nested stacks are flattened in drawing order) and
 * one PNG per layer. Only the attributes of <image> and <layer> are read, no DTDs or entities
 * beyond XML's five and character references.
 */
export async function readOra(source: string | Buffer, limits: ProjectLimits = DEFAULT_PROJECT_LIMITS): Promise<ImportedLayers> {
  const { files } = await readZip(source, limits, 'OpenRaster file');
  const mimetype = files.get('mimetype')?.toString('latin1').trim();
  if (mimetype !== 'image/openraster') invalid('Not an OpenRaster file: its mimetype entry is not image/openraster');
  const stackXml = files.get('stack.xml');
  if (!stackXml) invalid('The OpenRaster file has no stack.xml');
  if (stackXml.length > limits.maxJsonBytes) invalid('stack.xml is too large');
  const xml = stackXml.toString('utf8');
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) invalid('stack.xml declares a DTD or entities, which OpenRaster does not use');
  const image = xml.match(/<image\b([^>]*)>/);
  if (!image) invalid('stack.xml has no <image> element');
  const imageAttrs = attributes(image[1]!);
  const width = number(imageAttrs.w, NaN, 'width');
  const height = number(imageAttrs.h, NaN, 'height');
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > limits.maxImageSide || height > limits.maxImageSide) {
    invalid(`OpenRaster canvas ${imageAttrs.w}×${imageAttrs.h} is outside 1..${limits.maxImageSide}`);
  }
  const topFirst = [...xml.matchAll(/<layer\b([^>]*?)\/?>/g)].map((m) => attributes(m[1]!));
  if (topFirst.length > 1000) invalid(`The OpenRaster file has ${topFirst.length} layers; at most 1000 are accepted`);
  let assets: ProjectAssets = {};
  const layers: Layer[] = [];
  for (const attrs of topFirst.reverse()) {
    const src = attrs.src;
    if (!src) invalid('An OpenRaster layer has no src');
    const png = files.get(src);
    if (!png) invalid(`OpenRaster layer "${attrs.name ?? src}" points to ${src}, which the file does not contain`);
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
  const check = (layer: PsdLayer): void => {
    if (++count > 1000) invalid('The PSD file has more than 1000 layers');
    const w = (layer.right ?? 0) - (layer.left ?? 0);
    const h = (layer.bottom ?? 0) - (layer.top ?? 0);
    if (w > limits.maxImageSide || h > limits.maxImageSide || w * h > limits.maxImagePixels) invalid(`PSD layer "${layer.name}" is ${w}×${h} pixels, over the limit`);
    layer.children?.forEach(check);
  };
  structure.children?.forEach(check);
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
    const png = await sharp(Buffer.from(data.data.buffer, data.data.byteOffset, data.data.byteLength), { raw: { width: data.width, height: data.height, channels: 4 } }).png().toBuffer();
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
    meta = await sharp(bytes, { limitInputPixels: limits.maxImagePixels }).metadata();
  } catch (error) {
    invalid(`${name} is not an image Atelier can read: ${(error as Error).message}`);
  }
  const { width = 0, height = 0 } = meta;
  if (width < 1 || height < 1 || width > limits.maxImageSide || height > limits.maxImageSide) invalid(`${name} is ${width}×${height} pixels; at most ${limits.maxImageSide} per side are accepted`);
  let png: Buffer;
  try {
    // rotate() applies EXIF orientation so the layer looks as the photo does elsewhere.
    png = await sharp(bytes, { limitInputPixels: limits.maxImagePixels }).rotate().png().toBuffer();
  } catch (error) {
    invalid(`${name} could not be decoded: ${(error as Error).message}`);
  }
  const { width: w, height: h } = await sharp(png).metadata();
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
        return { ...rest, kind: 'paint', id, image: part(layer.image.part) };
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
