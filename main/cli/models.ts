import type { Command } from 'commander';
import type { ModelInfo } from '../../app/contract/index.js';
import fs from 'node:fs';
import path from 'node:path';
import { inspectControlNet, inspectModel } from '../../app/engine/index.js';

// `atelier models inspect DIR`: what the engine detects in a model folder, without keeping
// any session open.

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
      // A ControlNet folder has its graph at the top and no text encoder.
      if (fs.existsSync(path.join(dir, 'model.onnx')) && !fs.existsSync(path.join(dir, 'text_encoder'))) {
        const cn = await inspectControlNet(dir);
        const summary = { kind: 'controlnet', path: cn.dir, textWidth: cn.hiddenDim, residuals: cn.downOutputNames.length + 1, conditioningScale: cn.scaleName ? `${cn.scaleName} (${cn.scaleType})` : 'none (weight scales the residuals)', inputs: [cn.sampleName, cn.timestepName, cn.hiddenName, cn.condName, ...(cn.scaleName ? [cn.scaleName] : [])], outputs: [...cn.downOutputNames, cn.midOutputName] };
        console.log(opts.json ? JSON.stringify(summary, null, 2) : [
          `ControlNet ${summary.path}`,
          `text width ${summary.textWidth}`,
          `residuals  ${summary.residuals} (${cn.downOutputNames.length} down + mid)`,
          `scale      ${summary.conditioningScale}`,
          `in:  ${summary.inputs.join(', ')}`,
          `out: ${summary.outputs.join(', ')}`,
        ].join('\n'));
        return;
      }
      const info = await inspectModel(dir);
      console.log(opts.json ? JSON.stringify(info, null, 2) : describeModel(info));
    });
}
