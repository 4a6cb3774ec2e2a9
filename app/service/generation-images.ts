import fs from 'node:fs/promises';
import { ApiError, type GenerationRequest, type ImageRef, type ModelInfo } from '../contract/index.js';
import { binarizeMask, featherMask, maskBoundingBox, maskFromImage, preprocessControl } from '../engine/control/index.js';
import type { Field } from '../engine/control/index.js';
import { type Rect, type Sha256Resolver, cropImage, pasteImage, resizeImage, resolveImageRef } from '../engine/image.js';
import type { PipelineImages, RgbaImage } from '../engine/pipeline/types.js';
import { isSpecialFilesystemPath } from './paths.js';

// Turning a request's image references into what the pipeline takes, and putting inpainted
// results back: decode (at `generate` time, so a bad image is refused at once), then — once
// the model's size rules are known — fit everything to the generation size and preprocess
// the control images there. "Only masked" inpainting follows A1111 (modules/processing.py, masking.py): crop the
// padded mask box grown to the generation's aspect, generate it at full size, scale the
// result back and paste it through the feathered mask.

export interface DecodedInputs {
  init?: RgbaImage;
  mask?: RgbaImage;
  /** Control images as given, one per request.controls; preprocessed once the generation size is known. */
  controls: RgbaImage[];
  /** Region masks as given, one per request.regions (white = the region). */
  regions?: RgbaImage[];
}

/** Decodes every image of a request and checks what can be checked before the model is known. */
export async function decodeInputs(request: GenerationRequest, resolveSha256?: Sha256Resolver): Promise<DecodedInputs> {
  for (const [i, control] of request.controls.entries()) {
    if (control.preprocess === 'canny' && control.cannyLow > control.cannyHigh) {
      throw new ApiError('bad_request', `Control ${i + 1}: the Canny low threshold ${control.cannyLow} exceeds the high threshold ${control.cannyHigh}`);
    }
  }
  const decode = async (ref: ImageRef, label: string) => {
    await assertImageFile(ref, label);
    return resolveImageRef(ref, { label, resolveSha256 });
  };
  const init = request.init ? await decode(request.init, 'init image') : undefined;
  const mask = request.inpaint ? await decode(request.inpaint.mask, 'inpainting mask') : undefined;
  const controls: RgbaImage[] = [];
  for (const [i, control] of request.controls.entries()) controls.push(await decode(control.image, `control image ${i + 1}`));
  const regions: RgbaImage[] = [];
  for (const [i, region] of (request.regions ?? []).entries()) regions.push(await decode(region.mask, `region ${i + 1}'s mask`));
  return { init, mask, controls, ...(regions.length > 0 ? { regions } : {}) };
}

/**
 * An image given by path must be a regular file off the special file systems: reading a FIFO
 * waits for a writer forever, /dev/zero never ends, /proc files are not images (issue 17: no
 * operation may hang on a path). Stat does not block on either; a missing file is left for the
 * decoder to report as not_found.
 */
async function assertImageFile(ref: ImageRef, label: string): Promise<void> {
  if (!('path' in ref)) return;
  // A path that cannot be resolved (missing, no permission) is checked by its name alone.
  const real = await fs.realpath(ref.path).catch(() => ref.path);
  if (isSpecialFilesystemPath(ref.path) || isSpecialFilesystemPath(real)) {
    throw new ApiError('invalid_file', `The ${label} ${ref.path} is on a special file system (devices, /proc, /sys), not an image file`);
  }
  // A missing or unreadable file: the decoder reports it (not_found / invalid_file) in its words.
  const stat = await fs.stat(ref.path).catch(() => null);
  if (stat && !stat.isFile()) throw new ApiError('invalid_file', `The ${label} ${ref.path} is not a regular file`);
}

/** How to put a generated image back into the artist's init image. */
export interface PasteBack {
  base: RgbaImage;
  /** Where the generated image goes in `base` (the whole image unless only-masked). */
  region: Rect;
  /** Feathered mask over `region`: 1 takes the generated pixel. */
  weight: Float32Array;
}

export interface FittedInputs {
  width: number;
  height: number;
  images: PipelineImages;
  pasteBack?: PasteBack;
}

/**
 * The generation size: as asked, else the init image's size rounded down to the model's
 * multiple, else the model's default. A size off the multiple is refused, not rounded.
 */
export function generationSize(request: GenerationRequest, info: ModelInfo, init?: RgbaImage): { width: number; height: number } {
  const m = info.sizeMultiple;
  const width = request.width ?? (init ? Math.max(m, init.width - (init.width % m)) : info.defaultWidth);
  const height = request.height ?? (init ? Math.max(m, init.height - (init.height % m)) : info.defaultHeight);
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (v % m !== 0) throw new ApiError('bad_request', `The ${name} ${v} is not a multiple of ${m}, which this model needs`);
  }
  return { width, height };
}

export async function fitInputs(request: GenerationRequest, info: ModelInfo, decoded: DecodedInputs): Promise<FittedInputs> {
  const { width, height } = generationSize(request, info, decoded.init);
  // Scale first, then preprocess, as the ControlNet extension for A1111 runs its annotators at
  // the processing resolution: edges stay one pixel wide and scribble lines get the width the
  // ControlNet expects at this size, instead of being blurred or thinned by a later resize.
  const controls: RgbaImage[] = [];
  for (const [i, image] of decoded.controls.entries()) {
    const control = request.controls[i];
    if (!control) throw new ApiError('bad_request', `Control image ${i + 1} has no control entry in the request`);
    controls.push(preprocessControl(await resizeImage(image, width, height, 'cover'), control));
  }
  // Region masks are drawn over the frame as the init image is: fitted the same way (cover).
  const coverRegions = async () => {
    const out: RgbaImage[] = [];
    for (const m of decoded.regions ?? []) out.push(await resizeImage(m, width, height, 'cover', 'linear'));
    return out.length > 0 ? { regions: out } : {};
  };
  if (!decoded.init) return { width, height, images: { controls, ...(await coverRegions()) } };
  if (!request.inpaint || !decoded.mask) {
    return { width, height, images: { init: await resizeImage(decoded.init, width, height, 'cover'), controls, ...(await coverRegions()) } };
  }

  const base = decoded.init;
  // The mask is painted over the init image: bring it to the init's size first.
  const maskImage = decoded.mask.width === base.width && decoded.mask.height === base.height ? decoded.mask : await resizeImage(decoded.mask, base.width, base.height, 'exact', 'linear');
  const mask = binarizeMask(maskFromImage(maskImage));
  const feathered = featherMask(mask, request.inpaint.blur);
  let region: Rect = { x: 0, y: 0, width: base.width, height: base.height };
  if (request.inpaint.onlyMasked) {
    const box = maskBoundingBox(mask, { padding: request.inpaint.padding, aspect: width / height });
    if (!box) throw new ApiError('bad_request', 'The inpainting mask is empty: paint where the image should change');
    region = box;
  }
  const init = await resizeImage(cropImage(base, region), width, height, 'exact');
  const maskCrop = await resizeImage(cropImage(fieldToMaskImage(mask), region), width, height, 'exact', 'nearest');
  // Inpainting: region masks lie over the init image; cut the same region out of them.
  const regions: RgbaImage[] = [];
  for (const m of decoded.regions ?? []) {
    const onBase = m.width === base.width && m.height === base.height ? m : await resizeImage(m, base.width, base.height, 'exact', 'linear');
    regions.push(await resizeImage(cropImage(onBase, region), width, height, 'exact', 'linear'));
  }
  return {
    width,
    height,
    images: { init, mask: maskCrop, controls, ...(regions.length > 0 ? { regions } : {}) },
    pasteBack: { base, region, weight: cropField(feathered, region) },
  };
}

/** A generated image scaled back to its region and blended into the init through the feathered mask. */
export async function pasteGenerated(generated: RgbaImage, paste: PasteBack): Promise<RgbaImage> {
  const scaled = await resizeImage(generated, paste.region.width, paste.region.height, 'exact');
  return pasteImage(paste.base, scaled, paste.region.x, paste.region.y, paste.weight);
}

function fieldToMaskImage(mask: Field): RgbaImage {
  const out = new Uint8Array(mask.width * mask.height * 4);
  for (let p = 0; p < mask.data.length; p++) {
    const v = mask.data[p]! >= 0.5 ? 255 : 0;
    out.set([v, v, v, 255], p * 4);
  }
  return { width: mask.width, height: mask.height, data: out };
}

function cropField(field: Field, r: Rect): Float32Array {
  const out = new Float32Array(r.width * r.height);
  for (let y = 0; y < r.height; y++) out.set(field.data.subarray((r.y + y) * field.width + r.x, (r.y + y) * field.width + r.x + r.width), y * r.width);
  return out;
}
