import path from 'node:path';
import { type Command, Option } from 'commander';
import { ApiError, DeviceChoice } from '../../app/contract/index.js';
import { terminalText } from '../../app/contract/terminal.js';
import { ortCacheDir, resolveHome } from '../../app/service/index.js';
import { FarmWorker, parseQueueUrl, resolveQueueUrl } from '../../app/service/farm/index.js';
import { number } from './generate-options.js';

// `atelier worker`: this machine's engine as a render-farm worker (docs/farm.md, "Workers").
// It runs until SIGINT or SIGTERM: the first lets running jobs finish, the second abandons
// them (the farm retries them on another worker, as it does for a worker that is killed).

interface WorkerCliOptions {
  queue?: string;
  device: DeviceChoice;
  concurrency: number;
  model: string[];
  store?: string;
  lockMs?: number;
  stalledMs?: number;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export async function workerCommand(opts: WorkerCliOptions): Promise<void> {
  const url = resolveQueueUrl(opts.queue, resolveHome());
  if (!url) throw new ApiError('bad_request', 'No queue: pass --queue redis://:PASSWORD@HOST:PORT, set ATELIER_QUEUE, or "farm": { "queue": … } in settings.json');
  const target = parseQueueUrl(url);
  const worker = new FarmWorker({
    url,
    device: opts.device,
    concurrency: opts.concurrency,
    storeDir: opts.store ?? path.join(resolveHome(), 'farm', 'models'),
    ortCacheDir: ortCacheDir(resolveHome()),
    models: opts.model.map((m) => path.resolve(m)),
    ...(opts.lockMs !== undefined ? { lockDurationMs: opts.lockMs } : {}),
    ...(opts.stalledMs !== undefined ? { stalledIntervalMs: opts.stalledMs } : {}),
    log: (line) => process.stderr.write(`${terminalText(line)}\n`),
  });
  let stopping: Promise<void> | undefined;
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      if (stopping) {
        void worker.close(true).then(resolve);
        return;
      }
      process.stderr.write('atelier worker: finishing running jobs (again to abandon them)\n');
      stopping = worker.close().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await worker.start();
  process.stderr.write(terminalText(`atelier worker ${worker.id}: ${opts.concurrency} × ${opts.device} on ${target.display}`) + '\n');
  await stopped;
}

export function registerWorkerCommands(program: Command): void {
  program
    .command('worker')
    .description('run this machine\'s engine as a render-farm worker on a Redis queue (docs/farm.md)')
    .option('--queue <url>', 'the farm\'s Redis: redis://[USER]:PASSWORD@HOST:PORT[/DB] or rediss:// (default: ATELIER_QUEUE)')
    .addOption(new Option('--device <device>', 'execution provider').choices(DeviceChoice.options).default('auto'))
    .option('--concurrency <n>', 'jobs at once, each in its own engine process', number('concurrency', true), 1)
    .option('--model <dir>', 'a model folder this worker holds (repeatable); others are fetched from the studio that asks', collect, [])
    .option('--store <dir>', 'where fetched models are kept (default: <ATELIER_HOME>/farm/models)')
    .option('--lock-ms <ms>', 'job lock duration: a vanished worker\'s job is retried after about this long (default 30000)', number('lock-ms', true))
    .option('--stalled-ms <ms>', 'how often to look for stalled jobs (default 30000)', number('stalled-ms', true))
    .action(async (opts: WorkerCliOptions) => {
      if (opts.concurrency < 1) throw new ApiError('bad_request', '--concurrency must be at least 1');
      await workerCommand(opts);
    });
}
