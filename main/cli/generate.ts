import fs from 'node:fs';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ApiError, ControlType, DeviceChoice, GenerationRequest, SamplerName, type GenerationRequestInput } from '../../app/contract/index.js';
import { loadModel, runPipeline, type PipelineProgress } from '../../app/engine/index.js';
import { stampPng } from '../../app/formats/stamp.js';
import { openLibrary } from '../../app/library/index.js';
import { decodeInputs, fitInputs, pasteGenerated } from '../../app/service/generation-images.js';
import { APP_VERSION, resolveHome } from '../../app/service/index.js';
import { defaultStarterDir, STARTER_MODEL_ID } from '../../app/service/models-registry.js';

// `atelier generate`: one generation straight through the engine, in this process, writing
// one PNG per candidate with A1111 `parameters` and Atelier's record in its text chunks.

const number = (name: string, integer = false) => (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new InvalidArgumentError(`${name} must be a${integer ? ' whole' : ''} number`);
  }
  return n;
};

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export interface ControlSpec {
  type: ControlType;
  image: string;
  weight?: number;
  start?: number;
  end?: number;
}

/**
 * TYPE:IMG[:WEIGHT[:START:END]]. The image path may itself hold colons (C:\…), so the
 * numbers are taken from the end.
 */
export function parseControlSpec(spec: string): ControlSpec {
  const parts = spec.split(':');
  const type = ControlType.safeParse(parts[0]);
  if (!type.success) throw new InvalidArgumentError(`control type ${JSON.stringify(parts[0])} is not one of ${ControlType.options.join(', ')}`);
  const rest = parts.slice(1);
  const isNum = (s: string | undefined): boolean => s !== undefined && s.trim() !== '' && Number.isFinite(Number(s));
  let nums: number[] = [];
  if (rest.length >= 4 && rest.slice(-3).every(isNum)) nums = rest.splice(-3).map(Number);
  else if (rest.length >= 2 && isNum(rest[rest.length - 1])) nums = rest.splice(-1).map(Number);
  const image = rest.join(':');
  if (!image) throw new InvalidArgumentError(`--control ${spec}: missing the image (TYPE:IMG[:WEIGHT[:START:END]])`);
  const [weight, start, end] = nums;
  return { type: type.data, image, ...(weight !== undefined ? { weight } : {}), ...(start !== undefined ? { start, end: end! } : {}) };
}

interface GenerateOptions {
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
  preprocess?: 'none' | 'canny' | 'scribble';
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

/** The CLI's options → a parsed GenerationRequest (contract errors listed by field). */
export function requestFromOptions(opts: GenerateOptions): GenerationRequest {
  const controls = opts.control.map(parseControlSpec);
  const modelDir = opts.model === STARTER_MODEL_ID ? mustExist(defaultStarterDir(), 'the bundled starter model') : mustExist(opts.model, 'model folder');
  const controlnets = controlnetsFor(controls.length, opts.controlnet, modelDir);
  if (opts.mask && !opts.init) throw new ApiError('bad_request', '--mask needs --init (the image to inpaint)');
  const input: GenerationRequestInput = {
    model: modelDir,
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

function progressReporter(json: boolean, batch: number): { onProgress: (p: PipelineProgress) => void; stop: () => void } {
  if (json) return { onProgress: () => undefined, stop: () => undefined };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: 'candidate {candidate}/{batch} [{bar}] step {value}/{total} | {duration_formatted}', stream: process.stderr, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    let started = -1;
    return {
      onProgress: (p) => {
        if (p.candidateIndex !== started) {
          if (started >= 0) bar.stop();
          bar.start(p.totalSteps, 0, { candidate: p.candidateIndex + 1, batch });
          started = p.candidateIndex;
        }
        bar.update(p.step, { candidate: p.candidateIndex + 1, batch });
      },
      stop: () => bar.stop(),
    };
  }
  // Logs and pipes get a line per candidate at each quarter, not one per step.
  return {
    onProgress: (p) => {
      const quarter = Math.max(1, Math.round(p.totalSteps / 4));
      if (p.step % quarter === 0 || p.step === p.totalSteps) process.stderr.write(`candidate ${p.candidateIndex + 1}/${batch} step ${p.step}/${p.totalSteps}\n`);
    },
    stop: () => undefined,
  };
}

/**
 * Writes `<base>.png` in `dir`, or `<base>-2.png`, `-3`, … when that name is taken: two runs in
 * the same second with the same seed must never overwrite each other's images.
 */
export function writeNew(dir: string, base: string, bytes: Buffer): string {
  for (let n = 1; ; n++) {
    const file = path.join(dir, n === 1 ? `${base}.png` : `${base}-${n}.png`);
    try {
      fs.writeFileSync(file, bytes, { flag: 'wx' });
      return file;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

export async function generateCommand(opts: GenerateOptions): Promise<void> {
  const request = requestFromOptions(opts);
  const decoded = await decodeInputs(request);
  const controlnets = request.controls.map((c) => c.model);
  const model = await loadModel(request.model, { device: request.device, controlnets });
  const progress = progressReporter(Boolean(opts.json), request.batch);
  let result;
  try {
    if (!opts.json) {
      const fallback = model.info.notes.find((n) => n.startsWith('device:'));
      process.stderr.write(`model ${path.basename(request.model)} (${model.info.family}, ${model.info.dtype}) on ${model.device}${fallback && fallback !== `device: ${model.device}` ? ` — ${fallback}` : ''}\n`);
    }
    // The same fitting as the studio's generation service: the generation size, control maps
    // at that size, and for inpainting the (only-masked) crop that is pasted back after.
    const fitted = await fitInputs(request, model.info, decoded);
    const engineRequest: GenerationRequest = { ...request, width: fitted.width, height: fitted.height };
    result = await runPipeline(model, engineRequest, fitted.images, { onProgress: progress.onProgress });
    if (fitted.pasteBack) {
      const paste = fitted.pasteBack;
      result.candidates = await Promise.all(result.candidates.map(async (c) => ({ ...c, image: await pasteGenerated(c.image, paste) })));
    }
  } finally {
    progress.stop();
    await model.release();
  }

  fs.mkdirSync(opts.out, { recursive: true });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  let generationId: string | undefined;
  const files: string[] = [];
  const pngs: Buffer[] = [];
  // ── LIBRARY (history): the model's content hash goes into each PNG's record and the history.
  const library = openLibrary(resolveHome());
  try {
    const modelName = path.basename(request.model);
    const modelHash = library.modelHash(request.model);
    for (const c of result.candidates) {
      const png = stampPng(c.image, { request, seed: c.seed, width: c.image.width, height: c.image.height, index: c.index, modelName, modelHash, device: result.device, appVersion: APP_VERSION });
      const file = writeNew(opts.out, `${stamp}-${c.seed}`, png);
      files.push(path.resolve(file));
      pngs.push(png);
    }
    // The same bytes go into the library, so `atelier history` finds exactly these files.
    const recorded = await library.recordGeneration({
      request,
      modelName,
      modelHash,
      device: result.device,
      appVersion: APP_VERSION,
      timings: result.timings,
      candidates: result.candidates.map((c, i) => ({ index: c.index, seed: c.seed, png: pngs[i]! })),
    });
    generationId = recorded.id;
  } finally {
    library.close();
  }
  // ─────────────────────────────────────────────────────────────────────────────────────

  const timings = Object.fromEntries(Object.entries(result.timings).map(([k, v]) => [k, Math.round(v * 10) / 10]));
  if (opts.json) {
    console.log(JSON.stringify({ files, generationId, device: result.device, seeds: result.candidates.map((c) => c.seed), timings }, null, 2));
  } else {
    for (const f of files) console.log(f);
    process.stderr.write(`done in ${(result.timings.total! / 1000).toFixed(1)} s on ${result.device}; in the history as ${generationId}\n`);
  }
}

export function registerGenerateCommands(program: Command): void {
  program
    .command('generate')
    .description('generate images with a model folder (txt2img, img2img with --init, inpainting with --mask, ControlNet with --control)')
    .requiredOption('--model <dir>', `model folder (diffusers/Optimum ONNX layout), or "${STARTER_MODEL_ID}" for the bundled model`)
    .requiredOption('--prompt <text>', 'what to make; (word:1.3) emphasises, [word] de-emphasises')
    .option('--negative <text>', 'what to avoid')
    .option('--steps <n>', 'denoising steps', number('steps', true))
    .option('--cfg <scale>', 'guidance scale', number('cfg'))
    .addOption(new Option('--sampler <name>', 'sampler').choices(SamplerName.options))
    .option('--seed <n>', 'seed (candidate k uses seed + k); random when omitted', number('seed', true))
    .option('--width <px>', 'width in pixels', number('width', true))
    .option('--height <px>', 'height in pixels', number('height', true))
    .option('--batch <n>', 'number of candidates', number('batch', true))
    .option('--init <image>', 'init image for img2img / inpainting')
    .option('--strength <0..1>', 'img2img strength: 0 keeps the init image, 1 ignores it', number('strength'))
    .option('--mask <image>', 'inpainting mask (white = repaint), same size as --init')
    .option('--mask-blur <px>', 'feather of the mask edge', number('mask-blur'))
    .option('--only-masked', 'inpaint the masked region at full resolution and paste it back')
    .option('--control <spec>', 'TYPE:IMG[:WEIGHT[:START:END]] (repeatable), e.g. scribble:sketch.png:0.8', collect, [])
    .option('--controlnet <dir>', 'ControlNet folder for each --control, in the same order (repeatable; default: the model\'s own controlnet/ folder)', collect, [])
    .addOption(new Option('--preprocess <mode>', 'how control images become control maps (default: scribble for scribble controls, canny for canny, else none; use none for ready-made maps)').choices(['none', 'canny', 'scribble']))
    .addOption(new Option('--device <device>', 'execution provider').choices(DeviceChoice.options).default('auto'))
    .option('--out <dir>', 'folder for the PNGs', '.')
    .option('--json', 'print a JSON summary')
    .action(async (opts: GenerateOptions) => generateCommand(opts));
}
