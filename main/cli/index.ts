import { Command } from 'commander';
import { terminalJson, terminalText } from '../../app/contract/terminal.js';
import { APP_VERSION } from '../../app/service/index.js';
import { registerGenerateCommands } from './generate.js';
import { registerHistoryCommands } from './history.js';
import { registerProjectCommands } from './project.js';
import { registerModelCommands } from './models.js';
import { registerFarmCommands } from './farm.js';
import { registerWorkerCommands } from './worker.js';
import { withStudio } from './studio.js';

/**
 * The `atelier` command. Subcommands call the StudioService in-process (the CLI's door; the
 * CLI imports nothing but app/contract and app/service); each area adds its commands in its
 * own module. Text that comes from stored data or files is printed through terminalText, so
 * it cannot drive the terminal.
 */
export function buildProgram(): Command {
  const program = new Command('atelier')
    .description('Atelier: sketch-guided diffusion studio — command line')
    .version(APP_VERSION, '-v, --version')
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(terminalText(text, { keepNewlines: true })) })
    // Every command that opens the studio then submits to that farm (docs/farm.md); ATELIER_QUEUE does the same.
    .option('--queue <url>', 'run generation jobs on a render farm\'s Redis queue (redis://:PASSWORD@HOST:PORT)')
    .hook('preAction', (command) => {
      const { queue } = command.opts<{ queue?: string }>();
      if (queue) process.env.ATELIER_QUEUE = queue;
    });

  program
    .command('status')
    .description('show the app version, data folder and the execution providers found')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const status = await withStudio((studio) => studio.call('status', {}));
      if (opts.json) console.log(terminalJson(status));
      else {
        console.log(`Atelier ${status.appVersion} (StudioApi v${status.apiVersion})`);
        console.log(terminalText(`data folder: ${status.home}`));
        for (const d of status.devices) console.log(`device ${d.id.padEnd(8)} ${d.available ? 'available' : 'not installed'}  ${d.label}`);
      }
    });

  registerHistoryCommands(program);
  registerProjectCommands(program);
  registerModelCommands(program);
  registerGenerateCommands(program);
  registerWorkerCommands(program);
  registerFarmCommands(program);

  return program;
}

export async function runCli(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
  } catch (error) {
    // Messages may quote file bytes (a NUL in a PNG chunk) or stored names: shown escaped.
    console.error(`atelier: ${terminalText(error instanceof Error ? error.message : String(error), { keepNewlines: true })}`);
    process.exitCode = 1;
  }
}
