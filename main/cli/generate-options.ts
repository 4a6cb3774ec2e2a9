import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import sharp, { type Metadata } from 'sharp';
import { ApiError, ControlType, type DeviceChoice, GenerationRequest, type GenerationRequestInput, type SamplerName } from '../../app/contract/index.js';
import { defaultStarterDir, STARTER_MODEL_ID } from '../../app/service/models-registry.js';

// `atelier generate`'s arguments → a GenerationRequest, with the checks that belong to the
// command line: numbers written as decimal numbers, files that exist, one ControlNet folder per
// control, a mask the size of its init image (as the help says). Everything else is the
// service's to check, so the CLI refuses what the studio refuses with the same words.

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

/**
 * A decimal number, strictly: Number() alone takes `0x10`, `0b1`, `1e3` as a whole number and
 * `Infinity`, which no one types as a seed or a step count on purpose.
 */
export function parseNumber(text: string, name: string, integer = false): number {
  const trimmed = text.trim();
  if (integer ? !INTEGER.test(trimmed) : !DECIMAL.test(trimmed)) {
    throw new InvalidArgumentError(`${name} must be a${integer ? ' whole' : ''} number written in decimal digits, not ${JSON.stringify(text)}`);
  }
  return Number(trimmed);
}

export const number = (name: string, integer = false) => (value: string): number => parseNumber(value, name, integer);

export interface ControlSpec {
  type: ControlType;
  image: string;
  weight?: number;
  start?: number;
  end?: number;
}

/**
 * A trailing part of a --control spec that is meant as a number field: not the tail of a
 * path (no separator, no file extension). `NaN`, `x`, `0.8` are fields; `sketch.png`, `\a.png` are not.
 */
function isField(part: string): boolean {
  return !/[\\/]/.test(part) && !/\.[a-z][a-z0-9]{1,4}$/i.test(part);
}

/**
 * TYPE:IMG[:WEIGHT[:START:END]]. The image path may itself hold colons (C:\…), so the
 * numbers are taken from the end; a trailing field that is not a number is reported as such.
 */
export function parseControlSpec(spec: string): ControlSpec {
  const parts = spec.split(':');
  const type = ControlType.safeParse(parts[0]);
  if (!type.success) throw new InvalidArgumentError(`control type ${JSON.stringify(parts[0])} is not one of ${ControlType.options.join(', ')}`);
  const rest = parts.slice(1);
  let fields = 0;
  while (fields < 3 && fields < rest.length - 1 && isField(rest[rest.length - 1 - fields]!)) fields++;
  if (fields === 2) throw new InvalidArgumentError(`--control ${spec}: give WEIGHT or WEIGHT:START:END after the image, not two numbers`);
  const names = fields === 3 ? ['WEIGHT', 'START', 'END'] : ['WEIGHT'];
  const nums = rest.splice(rest.length - fields, fields).map((text, i) => {
    try {
      return parseNumber(text, `--control ${spec}: ${names[i]}`);
    } catch {
      throw new InvalidArgumentError(`--control ${spec}: ${names[i]} ${JSON.stringify(text)} is not a number`);
    }
  });
  const image = rest.join(':');
  if (!image) throw new InvalidArgumentError(`--control ${spec}: missing the image (TYPE:IMG[:WEIGHT[:START:END]])`);
  const [weight, start, end] = nums;
  return { type: type.data, image, ...(weight !== undefined ? { weight } : {}), ...(start !== undefined ? { start, end: end! } : {}) };
}

export interface RegionSpec {
  mask: string;
  prompt: string;
  weight?: number;
}

const IMAGE_THEN_COLON = /^(.+?\.(?:png|jpe?g|webp|gif|tiff?|avif|bmp)):(.*)$/is;

/**
 * MASK:PROMPT[:WEIGHT]. The mask path ends at its image extension (paths may hold colons,
 * C:\…), the weight is a trailing number, and the prompt is all between (it may hold colons).
 */
export function parseRegionSpec(spec: string): RegionSpec {
  const m = IMAGE_THEN_COLON.exec(spec);
  if (!m) throw new InvalidArgumentError(`--region ${spec}: give MASK:PROMPT[:WEIGHT], MASK an image file (.png, .jpg, .webp, …)`);
  const mask = m[1]!;
  let prompt = m[2]!;
  let weight: number | undefined;
  const tail = /^(.*):([^:]*)$/s.exec(prompt);
  if (tail && DECIMAL.test(tail[2]!.trim())) {
    prompt = tail[1]!;
    weight = Number(tail[2]!.trim());
  }
  if (!prompt.trim()) throw new InvalidArgumentError(`--region ${spec}: the prompt is empty (MASK:PROMPT[:WEIGHT])`);
  return { mask, prompt, ...(weight !== undefined ? { weight } : {}) };
}

/** --refiner MODEL[:SWITCH]: a folder or registered id, then the fraction of the schedule the base runs. */
export function parseRefinerSpec(spec: string): { model: string; switchAt?: number } {
  const tail = /^(.*):([^:]*)$/s.exec(spec);
  // A trailing field that looks like a number is the switch; C:\… keeps its colon.
  if (tail && tail[1] && DECIMAL.test(tail[2]!.trim())) {
    const switchAt = Number(tail[2]!.trim());
    if (!(switchAt > 0 && switchAt < 1)) throw new InvalidArgumentError(`--refiner ${spec}: SWITCH ${tail[2]} must lie between 0 and 1 (the fraction of the steps the base runs)`);
    return { model: tail[1], switchAt };
  }
  if (!spec.trim()) throw new InvalidArgumentError('--refiner needs a model (MODEL[:SWITCH])');
  return { model: spec };
}

/** WxH, e.g. 1024x768 (× accepted too). */
export function parseSize(name: string) {
  return (text: string): { width: number; height: number } => {
    const m = /^\s*(\d+)\s*[x×]\s*(\d+)\s*$/i.exec(text);
    if (!m) throw new InvalidArgumentError(`${name} must be WIDTHxHEIGHT in pixels, e.g. 1024x1024, not ${JSON.stringify(text)}`);
    return { width: Number(m[1]), height: Number(m[2]) };
  };
}

/** TOP,LEFT in pixels (diffusers' crops_coords_top_left order). */
export function parseCrop(text: string): { top: number; left: number } {
  const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(text);
  if (!m) throw new InvalidArgumentError(`--crop-top-left must be TOP,LEFT in pixels, e.g. 0,0, not ${JSON.stringify(text)}`);
  return { top: Number(m[1]), left: Number(m[2]) };
}

export interface GenerateOptions {
  model: string;
  prompt: string;
  negative?: string;
  steps?: number;
  cfg?: number;
  sampler?: SamplerName;
  seed?: number;
  width?: number;
  height?: number;
  batch?: number;
  init?: string;
  strength?: number;
  mask?: string;
  maskBlur?: number;
  onlyMasked?: boolean;
  control: string[];
  controlnet: string[];
  /** --region specs (MASK:PROMPT[:WEIGHT]); optional so callers that build options by hand need not. */
  region?: string[];
  preprocess?: 'none' | 'canny' | 'scribble';
  /** --refiner MODEL[:SWITCH] (SDXL base → refiner). */
  refiner?: string;
  /** --vae: a VAE file or folder, or a name in ATELIER_HOME/vae (GenerationRequest.vae). */
  vae?: string;
  /** SDXL micro-conditioning (GenerationRequest.sdxlConditioning). */
  originalSize?: { width: number; height: number };
  cropTopLeft?: { top: number; left: number };
  targetSize?: { width: number; height: number };
  aestheticScore?: number;
  negativeAestheticScore?: number;
  device: DeviceChoice;
  out: string;
  json?: boolean;
}

function mustExist(file: string, what: string): string {
  if (!fs.existsSync(file)) throw new ApiError('not_found', `${what} ${file} does not exist`);
  return path.resolve(file);
}

/**
 * One ControlNet folder per --control: the --controlnet folders in order, and for controls
 * beyond them the model's own `controlnet/` folder when it ships one (the starter model does).
 */
function controlnetsFor(count: number, given: string[], modelDir: string): string[] {
  if (given.length > count) throw new ApiError('bad_request', `${given.length} --controlnet given for ${count} --control: give one ControlNet folder per control, in the same order`);
  const own = path.join(modelDir, 'controlnet');
  const hasOwn = fs.existsSync(path.join(own, 'model.onnx'));
  return Array.from({ length: count }, (_, i) => {
    const dir = given[i] ?? (hasOwn ? own : undefined);
    if (!dir) throw new ApiError('bad_request', `${count} --control given but ${given.length} --controlnet, and ${modelDir} has no controlnet/ folder: give one ControlNet folder per control, in the same order`);
    return dir;
  });
}

/** A sketch for a scribble ControlNet and a photo for a Canny one need preprocessing; other maps are taken as given. */
function defaultPreprocess(type: string): 'none' | 'canny' | 'scribble' {
  return type === 'scribble' ? 'scribble' : type === 'canny' ? 'canny' : 'none';
}

/**
 * The CLI's options → a parsed GenerationRequest (contract errors listed by field). The bundled
 * model goes as its id, as the studio sends it, so both doors record the same request.
 */
export function requestFromOptions(opts: GenerateOptions): GenerationRequest {
  const controls = opts.control.map(parseControlSpec);
  const starter = opts.model === STARTER_MODEL_ID;
  const modelDir = starter ? mustExist(defaultStarterDir(), 'the bundled starter model') : mustExist(opts.model, 'model folder');
  const controlnets = controlnetsFor(controls.length, opts.controlnet, modelDir);
  if (opts.mask && !opts.init) throw new ApiError('bad_request', '--mask needs --init (the image to inpaint)');
  const input: GenerationRequestInput = {
    model: starter ? STARTER_MODEL_ID : modelDir,
    prompt: opts.prompt,
    negativePrompt: opts.negative ?? '',
    seed: opts.seed ?? Math.floor(Math.random() * 2 ** 32),
    device: opts.device,
    controls: controls.map((c, i) => ({
      type: c.type,
      model: mustExist(controlnets[i]!, 'ControlNet folder'),
      image: { path: mustExist(c.image, 'control image') },
      preprocess: opts.preprocess ?? defaultPreprocess(c.type),
      ...(c.weight !== undefined ? { weight: c.weight } : {}),
      ...(c.start !== undefined ? { start: c.start, end: c.end } : {}),
    })),
  };
  if (opts.steps !== undefined) input.steps = opts.steps;
  if (opts.cfg !== undefined) input.cfg = opts.cfg;
  if (opts.sampler !== undefined) input.sampler = opts.sampler;
  if (opts.width !== undefined) input.width = opts.width;
  if (opts.height !== undefined) input.height = opts.height;
  if (opts.batch !== undefined) input.batch = opts.batch;
  if (opts.strength !== undefined) input.strength = opts.strength;
  if (opts.init) input.init = { path: mustExist(opts.init, 'init image') };
  if (opts.refiner !== undefined) {
    const r = parseRefinerSpec(opts.refiner);
    // A folder goes as an absolute path; anything else as a registered model id, which the service resolves or refuses.
    input.refiner = { model: fs.existsSync(r.model) ? path.resolve(r.model) : r.model, ...(r.switchAt !== undefined ? { switchAt: r.switchAt } : {}) };
  }
  // A path goes absolute (the studio may run elsewhere); a bare name is looked up in ATELIER_HOME/vae by the service.
  if (opts.vae !== undefined) input.vae = fs.existsSync(opts.vae) ? path.resolve(opts.vae) : opts.vae;
  const micro = {
    ...(opts.originalSize ? { originalSize: opts.originalSize } : {}),
    ...(opts.cropTopLeft ? { crop: opts.cropTopLeft } : {}),
    ...(opts.targetSize ? { targetSize: opts.targetSize } : {}),
    ...(opts.aestheticScore !== undefined ? { aestheticScore: opts.aestheticScore } : {}),
    ...(opts.negativeAestheticScore !== undefined ? { negativeAestheticScore: opts.negativeAestheticScore } : {}),
  };
  if (Object.keys(micro).length > 0) input.sdxlConditioning = micro;
  const regions = (opts.region ?? []).map(parseRegionSpec);
  if (regions.length > 0) input.regions = regions.map((r) => ({ mask: { path: mustExist(r.mask, 'region mask') }, prompt: r.prompt, ...(r.weight !== undefined ? { weight: r.weight } : {}) }));
  if (opts.mask) {
    input.inpaint = { mask: { path: mustExist(opts.mask, 'mask image') }, ...(opts.maskBlur !== undefined ? { blur: opts.maskBlur } : {}), onlyMasked: opts.onlyMasked ?? false };
    if (opts.strength === undefined) input.strength = 1;
  }
  const parsed = GenerationRequest.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; ');
    throw new ApiError('bad_request', `invalid generation settings: ${issues}`);
  }
  return parsed.data;
}

/**
 * An image file's upright size (EXIF orientations 5–8 swap the sides, as decoding applies them);
 * undefined when the header cannot be read, which the service reports in its own words.
 */
async function uprightSize(file: string): Promise<{ width: number; height: number } | undefined> {
  let meta: Metadata;
  try {
    meta = await sharp(file, { limitInputPixels: false }).metadata();
  } catch {
    return undefined; // decodeInputs refuses the file as invalid_file, as it does in the studio
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  return (meta.orientation ?? 1) >= 5 ? { width: height, height: width } : { width, height };
}

/**
 * The help promises that --mask and --init are the same size: the mask is painted over the
 * init image pixel for pixel, so a mask of another size is most likely the wrong file.
 */
export async function checkMaskSize(opts: Pick<GenerateOptions, 'init' | 'mask'>): Promise<void> {
  if (!opts.init || !opts.mask) return;
  const init = await uprightSize(opts.init);
  const mask = await uprightSize(opts.mask);
  if (init && mask && (init.width !== mask.width || init.height !== mask.height)) {
    throw new ApiError('bad_request', `--mask is ${mask.width}×${mask.height} but --init is ${init.width}×${init.height}: the mask must be the size of the image it masks`);
  }
}
