import type { Command } from 'commander';
import type { ModelInfo } from '../../app/contract/index.js';
import { terminalJson, terminalText } from '../../app/contract/terminal.js';
import { inspectControlNetFolder, isControlNetFolder } from '../../app/service/controlnet-inspect.js';
import { withStudio } from './studio.js';

// `atelier models inspect DIR`: what the engine detects in a model folder (the studio's
// models.inspect), or in a ControlNet folder, without keeping any session open.

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
}
