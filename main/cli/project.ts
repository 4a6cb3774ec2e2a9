import { type Command, Option } from 'commander';
import { ExportFormat } from '../../app/contract/projects.js';
import { terminalJson, terminalText } from '../../app/contract/terminal.js';
import { withStudio } from './studio.js';

// `atelier project …`: .atelier files from the command line, through the StudioService.

export function registerProjectCommands(program: Command): void {
  const project = program.command('project').description('inspect and export .atelier project files');

  project
    .command('info')
    .description('show a project file: version, canvas, layers (top first), generations')
    .argument('<file>', 'an .atelier file')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const info = await withStudio((studio) => studio.call('projects.info', { path: file }));
      if (opts.json) {
        console.log(terminalJson(info));
        return;
      }
      const migrated = info.fileSchemaVersion < info.schemaVersion ? ` (file schema ${info.fileSchemaVersion}, migrated on open)` : '';
      // Names come from the file: shown escaped, so a layer name cannot drive the terminal.
      console.log(terminalText(`${info.name}  —  ${info.path}`));
      console.log(terminalText(`schema ${info.schemaVersion}${migrated}, saved by Atelier ${info.appVersion ?? 'preview'}`));
      console.log(`canvas ${info.canvas.width}×${info.canvas.height}, ${info.layers.length} layers, ${info.generations} generations, ${info.candidates} candidates, ${info.parts} images`);
      for (const l of info.layers) {
        console.log(`  ${l.visible ? '●' : '○'} ${l.kind.padEnd(9)} ${String(Math.round(l.opacity * 100)).padStart(3)}%  ${terminalText(l.name)}`);
      }
    });

  project
    .command('export')
    .description('export a project file as a flattened PNG, OpenRaster, PSD or a contact sheet of candidates')
    .argument('<file>', 'an .atelier file')
    .addOption(new Option('--format <format>', 'what to write').choices(ExportFormat.options).makeOptionMandatory())
    .requiredOption('--out <path>', 'where to write it')
    .option('--generation <id>', 'contact sheet: the generation (default: the latest)')
    .action(async (file: string, opts: { format: ExportFormat; out: string; generation?: string }) => {
      const result = await withStudio((studio) =>
        studio.call('projects.export', { path: file, format: opts.format, out: opts.out, ...(opts.generation ? { generationId: opts.generation } : {}) }),
      );
      console.log(terminalText(`wrote ${result.out} (${result.bytes} bytes)`));
    });
}
