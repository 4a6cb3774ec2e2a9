import type { Command } from 'commander';
import type { ModelInfo } from '../../app/contract/index.js';
import { terminalJson, terminalText } from '../../app/contract/terminal.js';
import { inspectControlNetFolder, isControlNetFolder } from '../../app/service/controlnet-inspect.js';
import { resolveHome } from '../../app/service/index.js';
import { downloadModel } from '../../app/service/model-download.js';
import { importModel } from '../../app/service/model-import.js';
import { withStudio } from './studio.js';

// `atelier models inspect DIR`: what the engine detects in a model folder (the studio's
// models.inspect), or in a ControlNet folder, without keeping any session open.
// `atelier models import FILE`: a .safetensors checkpoint or diffusers folder converted into
// ATELIER_HOME/models and registered; `atelier models download REPO|URL` fetches one from the
// Hugging Face Hub first (docs/models.md).

export function describeModel(info: ModelInfo): string {
  const lines = [
    `model      ${info.path}`,
    `family     ${info.family}${info.lcm ? ' (LCM)' : ''}${info.inpainting ? ' (inpainting, 9-channel UNet)' : ''}`,
    `prediction ${info.prediction}`,
    `precision  ${info.dtype}`,
    `text width ${info.textEmbedDim}`,
    `size       default ${info.defaultWidth}×${info.defaultHeight}, multiples of ${info.sizeMultiple}`,
    `ControlNet ${info.acceptsControlnet ? 'accepted' : 'not accepted (no UNet with residual inputs)'}`,
    'parts',
    ...Object.entries(info.components).map(([name, c]) => `  ${name.padEnd(16)} ${c.path}\n    in:  ${c.inputs.join(', ')}\n    out: ${c.outputs.join(', ')}`),
  ];
  if (info.notes.length) lines.push('notes', ...info.notes.map((n) => `  ${n}`));
  return lines.join('\n');
}

export function registerModelCommands(program: Command): void {
  const models = program.command('models').description('model folders');
  models
    .command('inspect')
    .description('show what a model (or ControlNet) folder is: family, prediction, inpainting, LCM, ControlNet, graph inputs and outputs')
    .argument('<dir>', 'model folder')
    .option('--json', 'print JSON')
    .action(async (dir: string, opts: { json?: boolean }) => {
      if (isControlNetFolder(dir)) {
        const cn = await inspectControlNetFolder(dir);
        const { downResiduals, ...summary } = cn;
        console.log(opts.json ? terminalJson(summary) : terminalText([
          `ControlNet ${summary.path}`,
          `text width ${summary.textWidth}`,
          `residuals  ${summary.residuals} (${downResiduals} down + mid)`,
          `scale      ${summary.conditioningScale}`,
          `in:  ${summary.inputs.join(', ')}`,
          `out: ${summary.outputs.join(', ')}`,
        ].join('\n'), { keepNewlines: true }));
        return;
      }
      const info = await withStudio((studio) => studio.call('models.inspect', { path: dir }));
      console.log(opts.json ? terminalJson(info) : terminalText(describeModel(info), { keepNewlines: true }));
    });
  models
    .command('import')
    .description('convert a single-file .safetensors checkpoint (SD 1.x/2.x, inpainting) or a diffusers folder of .safetensors into an Atelier model and add it to the model list')
    .argument('<source>', 'checkpoint .safetensors file or diffusers folder')
    .option('--name <name>', 'model name (default: the file name)')
    .option('--prediction <type>', 'epsilon or v (v-prediction; SD 2.x 768-v models)')
    .option('--vae <path>', 'use this VAE instead of the checkpoint\'s (.safetensors file or diffusers vae folder)')
    .option('--fp32', 'store float32 weights (default float16: half the size)')
    .option('--json', 'print JSON')
    .action(async (source: string, opts: { name?: string; prediction?: string; vae?: string; fp32?: boolean; json?: boolean }) => {
      const prediction = opts.prediction === undefined ? undefined : ({ v: 'v_prediction', v_prediction: 'v_prediction', epsilon: 'epsilon', eps: 'epsilon' } as const)[opts.prediction as 'v'];
      if (opts.prediction !== undefined && !prediction) throw new Error(`--prediction must be epsilon or v, not ${opts.prediction}`);
      let shown = -1;
      const { imported, entry } = await importModel({
        home: resolveHome(),
        source,
        ...(opts.name ? { name: opts.name } : {}),
        ...(prediction ? { prediction } : {}),
        ...(opts.fp32 ? { dtype: 'float32' } : {}),
        ...(opts.vae ? { vae: opts.vae } : {}),
        onProgress: (p) => {
          const pct = Math.floor(p.fraction * 100);
          if (pct !== shown && process.stderr.isTTY) process.stderr.write(`\r${p.stage.padEnd(12)} ${String(pct).padStart(3)}%`);
          shown = pct;
        },
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      if (opts.json) {
        console.log(terminalJson({ ...imported, id: entry.id }));
        return;
      }
      console.log(terminalText([
        `imported   ${imported.name} (id ${entry.id})`,
        `folder     ${imported.path}`,
        `family     ${imported.family}${imported.inpainting ? ' (inpainting)' : ''}`,
        `prediction ${imported.prediction}${imported.predictionFrom === 'default' ? ' (assumed; --prediction to change)' : ` (from the ${imported.predictionFrom})`}`,
        ...(imported.source.sha256 ? [`sha256     ${imported.source.sha256}`, `hash       ${imported.source.autov2} (A1111 short hash)`] : []),
        `took       ${imported.seconds.toFixed(1)} s`,
      ].join('\n'), { keepNewlines: true }));
    });
  models
    .command('download')
    .description('download a model from the Hugging Face Hub (an ONNX repo as it is; a checkpoint or diffusers repo, imported) and add it to the model list; resumable; HF_TOKEN for gated repos')
    .argument('<ref>', 'repo id (owner/name) or an https URL of a .safetensors file')
    .option('--name <name>', 'model name (default: the repo name)')
    .option('--revision <rev>', 'branch, tag or commit', 'main')
    .option('--json', 'print JSON')
    .action(async (ref: string, opts: { name?: string; revision: string; json?: boolean }) => {
      let shown = '';
      const out = await downloadModel({
        home: resolveHome(),
        ref,
        revision: opts.revision,
        ...(opts.name ? { name: opts.name } : {}),
        onProgress: (p) => {
          const line = `${p.file} ${(p.done / 2 ** 20).toFixed(0)}${p.total ? ` / ${(p.total / 2 ** 20).toFixed(0)}` : ''} MiB`;
          if (line !== shown && process.stderr.isTTY) process.stderr.write(`\r${line.padEnd(60)}`);
          shown = line;
        },
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      console.log(opts.json ? terminalJson({ id: out.entry.id, name: out.entry.name, path: out.path, kind: out.kind }) : terminalText(`added      ${out.entry.name} (id ${out.entry.id})\nfolder     ${out.path}\n${out.kind === 'onnx' ? 'ONNX repo, used as it is' : 'imported from PyTorch weights'}`, { keepNewlines: true }));
    });
}
