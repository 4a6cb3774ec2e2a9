import type { Command } from 'commander';
import { ApiError } from '../../app/contract/index.js';
import { terminalJson, terminalText } from '../../app/contract/terminal.js';
import { resolveHome } from '../../app/service/index.js';
import { farmStatus, resolveQueueUrl } from '../../app/service/farm/index.js';

// `atelier farm status`: the render farm as Redis sees it (docs/farm.md, "Watching the queue").

export function registerFarmCommands(program: Command): void {
  const farm = program.command('farm').description('the render farm (docs/farm.md)');
  farm
    .command('status')
    .description('workers (device, models, running jobs), queue depth by state, running jobs')
    .option('--queue <url>', 'the farm\'s Redis (default: ATELIER_QUEUE)')
    .option('--json', 'print JSON')
    .action(async (opts: { queue?: string; json?: boolean }) => {
      const url = resolveQueueUrl(opts.queue ?? (program.opts() as { queue?: string }).queue, resolveHome());
      if (!url) throw new ApiError('bad_request', 'No queue: pass --queue redis://:PASSWORD@HOST:PORT, set ATELIER_QUEUE, or "farm": { "queue": … } in settings.json');
      const status = await farmStatus(url);
      if (opts.json) {
        console.log(terminalJson(status));
        return;
      }
      const c = status.counts;
      console.log(terminalText(`queue ${status.queue}: ${(c.waiting ?? 0) + (c.prioritized ?? 0)} waiting, ${c.active ?? 0} running, ${c.delayed ?? 0} delayed, ${c.completed ?? 0} done and ${c.failed ?? 0} failed awaiting their studio`));
      console.log(`workers ${status.workers.length}`);
      for (const w of status.workers) {
        console.log(terminalText(`  ${w.id}  ${w.device}  ×${w.concurrency}  ${w.models.length} model(s)  ${w.running.length ? `running ${w.running.join(', ')}` : 'idle'}  (seen ${w.seenAt})`));
      }
      console.log(`running ${status.running.length}`);
      for (const r of status.running) {
        const step = r.step !== undefined ? `step ${r.step}/${r.totalSteps}` : 'starting';
        console.log(terminalText(`  ${r.jobId}  ${r.workerId ?? '?'}  ${r.device ?? ''}  ${step}  ${JSON.stringify(r.prompt.slice(0, 60))}`));
      }
    });
}
