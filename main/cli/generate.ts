import path from 'node:path';
import cliProgress from 'cli-progress';
import { type Command, Option } from 'commander';
import { ApiError, type CandidateSummary, DeviceChoice, ErrorCode, type GenerationRequest, SamplerName, type StudioEvent } from '../../app/contract/index.js';
import { terminalJson, terminalText } from '../../app/contract/terminal.js';
import type { StudioService } from '../../app/service/index.js';
import { sweepStrayExports } from '../../app/service/image-export.js';
import { STARTER_MODEL_ID } from '../../app/service/models-registry.js';
import { assertWritableFolder } from '../../app/service/paths.js';
import { checkMaskSize, type GenerateOptions, number, parseCrop, parseSize, requestFromOptions } from './generate-options.js';
import { withStudio } from './studio.js';

// `atelier generate`: the CLI's door to the one generation path. It submits the request to the
// StudioService, follows the job's events (a progress bar on a terminal), and writes the
// images the service recorded into --out — the same request, records, stamped PNG bytes and
// errors as a generation made in the studio. Each PNG reaches --out only after its generation
// is in the history, whole (temp file + link), so a kill never leaves an image the history
// does not know.

export { parseControlSpec, requestFromOptions } from './generate-options.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

interface Reporter {
  started(device: string): void;
  progress(step: number, totalSteps: number): void;
  stop(): void;
}

/**
 * Progress from job events. Candidates run one after another and each restarts the step count
 * (docs/engine.md, Pipelines), so a step lower than the last one starts the next candidate.
 */
function reporter(json: boolean, request: GenerationRequest): Reporter {
  const batch = request.batch;
  let candidate = 0;
  let last = 0;
  const advance = (step: number): boolean => {
    const next = step <= last && last > 0;
    if (next) candidate++;
    last = step;
    return next;
  };
  if (json) return { started: () => undefined, progress: (step) => void advance(step), stop: () => undefined };
  const started = (device: string) => {
    const model = request.model === STARTER_MODEL_ID ? 'starter' : path.basename(request.model);
    process.stderr.write(`model ${terminalText(model)} on ${terminalText(device)}\n`);
  };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: 'candidate {candidate}/{batch} [{bar}] step {value}/{total} | {duration_formatted}', stream: process.stderr, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    let running = false;
    return {
      started,
      progress: (step, totalSteps) => {
        if (advance(step) || !running) {
          if (running) bar.stop();
          bar.start(totalSteps, 0, { candidate: candidate + 1, batch });
          running = true;
        }
        bar.update(step, { candidate: candidate + 1, batch });
      },
      stop: () => {
        if (running) bar.stop();
        running = false;
      },
    };
  }
  // Logs and pipes get a line per candidate at each quarter, not one per step.
  return {
    started,
    progress: (step, totalSteps) => {
      advance(step);
      const quarter = Math.max(1, Math.round(totalSteps / 4));
      if (step % quarter === 0 || step === totalSteps) process.stderr.write(`candidate ${candidate + 1}/${batch} step ${step}/${totalSteps}\n`);
    },
    stop: () => undefined,
  };
}

interface Finished {
  generationId: string;
  candidates: CandidateSummary[];
  device: string;
}

/**
 * Submits the request and follows its job to the end: the completed job, or its failure thrown
 * as the ApiError the studio reports. Ctrl+C cancels the job (recorded as cancelled); a second
 * Ctrl+C ends the process as usual.
 */
async function runJob(studio: StudioService, request: GenerationRequest, report: Reporter): Promise<Finished> {
  let jobId: string | undefined;
  const early: StudioEvent[] = [];
  let device: string = request.device;
  let settle!: { resolve: (f: Finished) => void; reject: (e: Error) => void };
  const done = new Promise<Finished>((resolve, reject) => (settle = { resolve, reject }));
  const handle = (event: StudioEvent) => {
    if (!('jobId' in event) || event.jobId !== jobId) return;
    switch (event.type) {
      case 'job.started':
        device = event.device;
        report.started(event.device);
        break;
      case 'job.progress':
        report.progress(event.step, event.totalSteps);
        break;
      case 'job.completed':
        settle.resolve({ generationId: event.generationId, candidates: event.candidates, device });
        break;
      case 'job.failed':
        settle.reject(new ApiError(ErrorCode.safeParse(event.error.code).data ?? 'internal', event.error.message));
        break;
      default:
        break;
    }
  };
  // Subscribed before submitting: the queue announces the job before `generate` returns its id.
  const unsubscribe = studio.subscribe((event) => (jobId === undefined ? early.push(event) : handle(event)));
  const cancel = () => {
    if (jobId) void studio.call('jobs.cancel', { jobId }).catch(() => undefined); // the job's own failure event reports the outcome
  };
  process.once('SIGINT', cancel);
  try {
    jobId = (await studio.call('generate', { request })).jobId;
    for (const event of early.splice(0)) handle(event);
    return await done;
  } finally {
    process.off('SIGINT', cancel);
    unsubscribe();
    report.stop();
  }
}

/** `20261130-074102`: the UTC time the file names start with (the same wherever the CLI runs). */
function timeStamp(date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

export async function generateCommand(opts: GenerateOptions): Promise<void> {
  // --out first: a file, /proc, /sys or a device is refused before any work, not after it.
  const out = await assertWritableFolder(opts.out);
  const request = requestFromOptions(opts);
  await checkMaskSize(opts);
  // What a killed run left half-written in this folder goes first, whatever this run's fate.
  await sweepStrayExports(out);
  const report = reporter(Boolean(opts.json), request);
  const { files, finished, timings } = await withStudio(async (studio) => {
    const finished = await runJob(studio, request, report);
    // The generation is in the history now: write its images, exactly as recorded.
    const stamp = timeStamp();
    const files: string[] = [];
    for (const c of finished.candidates) files.push(await studio.saveImageAs(c.sha256, out, `${stamp}-${c.seed}`));
    const record = await studio.call('library.get', { id: finished.generationId });
    return { files, finished, timings: record.timings };
  });

  if (opts.json) {
    const rounded = Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v * 10) / 10]));
    console.log(terminalJson({ files, generationId: finished.generationId, device: finished.device, seeds: finished.candidates.map((c) => c.seed), timings: rounded }));
  } else {
    for (const f of files) console.log(terminalText(f));
    const seconds = (timings.wallMs ?? timings.total ?? 0) / 1000;
    process.stderr.write(`done in ${seconds.toFixed(1)} s on ${terminalText(finished.device)}; in the history as ${finished.generationId}\n`);
  }
}

export function registerGenerateCommands(program: Command): void {
  program
    .command('generate')
    .description('generate images with a model folder (txt2img, img2img with --init, inpainting with --mask, ControlNet with --control, regional prompts with --region)')
    .requiredOption('--model <dir>', `model folder (diffusers/Optimum ONNX layout), or "${STARTER_MODEL_ID}" for the bundled model`)
    .requiredOption('--prompt <text>', 'what to make; (word:1.3) emphasises, [word] de-emphasises')
    .option('--negative <text>', 'what to avoid')
    .option('--steps <n>', 'denoising steps', number('steps', true))
    .option('--cfg <scale>', 'guidance scale', number('cfg'))
    .addOption(new Option('--sampler <name>', 'sampler').choices(SamplerName.options))
    .option('--seed <n>', 'seed, in decimal (candidate k uses seed + k); random when omitted', number('seed', true))
    .option('--width <px>', 'width in pixels', number('width', true))
    .option('--height <px>', 'height in pixels', number('height', true))
    .option('--batch <n>', 'number of candidates', number('batch', true))
    .option('--init <image>', 'init image for img2img / inpainting')
    .option('--strength <0..1>', 'img2img strength: 0 keeps the init image, 1 ignores it', number('strength'))
    .option('--mask <image>', 'inpainting mask (white = repaint), same size as --init')
    .option('--mask-blur <px>', 'feather of the mask edge', number('mask-blur'))
    .option('--only-masked', 'inpaint the masked region at full resolution and paste it back')
    .option('--control <spec>', 'TYPE:IMG[:WEIGHT[:START:END]] (repeatable), e.g. scribble:sketch.png:0.8', collect, [])
    .option('--region <spec>', 'MASK.png:PROMPT[:WEIGHT] (repeatable): the prompt inside the mask\'s white area, the base prompt elsewhere; WEIGHT 0..2, default 1', collect, [])
    .option('--controlnet <dir>', 'ControlNet folder for each --control, in the same order (repeatable; default: the model\'s own controlnet/ folder)', collect, [])
    .addOption(new Option('--preprocess <mode>', 'how control images become control maps (default: scribble for scribble controls, canny for canny, else none; use none for ready-made maps)').choices(['none', 'canny', 'scribble']))
    .option('--vae <file|name>', 'a VAE for this generation: a .safetensors file, a diffusers VAE folder, or a name in ATELIER_HOME/vae (default: the model\'s own)')
    .option('--refiner <model[:switch]>', 'SDXL: a refiner (folder or registered id) takes over after SWITCH of the steps (0..1, default 0.8)')
    .option('--original-size <WxH>', 'SDXL micro-conditioning: the size the picture "was" (default: the generation size)', parseSize('--original-size'))
    .option('--crop-top-left <top,left>', 'SDXL micro-conditioning: pixels cropped off the top and left (default 0,0)', parseCrop)
    .option('--target-size <WxH>', 'SDXL micro-conditioning: the target size (default: the generation size)', parseSize('--target-size'))
    .option('--aesthetic-score <n>', 'SDXL refiner: the aesthetic score it is told (default 6)', number('aesthetic-score'))
    .option('--negative-aesthetic-score <n>', 'SDXL refiner: the negative\'s aesthetic score (default 2.5)', number('negative-aesthetic-score'))
    .addOption(new Option('--device <device>', 'execution provider').choices(DeviceChoice.options).default('auto'))
    .option('--out <dir>', 'folder for the PNGs (created when missing)', '.')
    .option('--json', 'print a JSON summary')
    .action(async (opts: GenerateOptions) => generateCommand(opts));
}
