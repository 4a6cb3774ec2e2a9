import { type Command, InvalidArgumentError, Option } from 'commander';
import type { GenerationRecord, GenerationSummary, LibrarySearchQueryInput } from '../../app/contract/index.js';
import { terminalJson, terminalText } from '../../app/contract/terminal.js';
import { resolveHome } from '../../app/service/index.js';
import { checkLibrary, recoverLibraryAt } from '../../app/service/library-maintenance.js';
import { withStudio } from './studio.js';

// `atelier history …`: the library from the command line, through the StudioService
// (the CLI's door), under ATELIER_HOME or the per-user data folder.

const int = (name: string) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be a whole number`);
  return n;
};

function line(g: GenerationSummary): string {
  const stars = Math.max(0, ...g.candidates.map((c) => c.rating));
  const prompt = g.prompt.replace(/\s+/g, ' ');
  const text = [
    g.id,
    g.createdAt.slice(0, 16).replace('T', ' '),
    g.mode.padEnd(7),
    (g.modelName ?? g.model).slice(0, 24).padEnd(24),
    `seed ${g.seed ?? '-'}`,
    `${g.candidates.length}×`,
    stars ? '★'.repeat(stars) : '',
    prompt.length > 70 ? `${prompt.slice(0, 69)}…` : prompt,
  ]
    .filter(Boolean)
    .join('  ');
  return terminalText(text);
}

function describe(g: GenerationRecord): string {
  const out = [
    `${g.id}  ${g.status}  ${g.mode}  (${g.source})  ${g.createdAt}`,
    `prompt: ${g.prompt}`,
    ...(g.negativePrompt ? [`negative: ${g.negativePrompt}`] : []),
    `model: ${g.model}${g.modelName && g.modelName !== g.model ? ` (${g.modelName})` : ''}${g.modelHash ? `  hash ${g.modelHash.slice(0, 16)}` : ''}`,
    `sampler: ${g.sampler ?? '-'}  steps: ${g.steps ?? '-'}  cfg: ${g.cfg ?? '-'}  seed: ${g.seed ?? '-'}${g.seedMode ? ` (${g.seedMode})` : ''}  size: ${g.width ?? '?'}x${g.height ?? '?'}${g.strength !== null ? `  strength: ${g.strength}` : ''}`,
  ];
  if (g.device || g.appVersion) out.push(`device: ${g.device ?? '-'}  app: ${g.appVersion ?? '-'}${g.timings.total !== undefined ? `  took ${(g.timings.total / 1000).toFixed(2)} s` : ''}`);
  if (g.hasControl) out.push(`controls: ${g.request?.controls.map((c) => `${c.type} (${c.model}, weight ${c.weight})`).join(', ') ?? 'yes'}`);
  if (g.request?.refiner) out.push(`refiner: ${g.request.refiner.model}  switch at ${g.request.refiner.switchAt}`);
  const mc = g.request?.sdxlConditioning;
  if (mc) {
    const parts = [
      mc.originalSize && `original ${mc.originalSize.width}x${mc.originalSize.height}`,
      mc.crop && `crop top-left ${mc.crop.top},${mc.crop.left}`,
      mc.targetSize && `target ${mc.targetSize.width}x${mc.targetSize.height}`,
      mc.aestheticScore !== undefined && `aesthetic ${mc.aestheticScore}`,
      mc.negativeAestheticScore !== undefined && `negative aesthetic ${mc.negativeAestheticScore}`,
    ].filter(Boolean);
    out.push(`sdxl: ${parts.join(', ')}`);
  }
  if (g.parentCandidateId) out.push(`refines: ${g.parentCandidateId}`);
  if (g.projectId) out.push(`project: ${g.projectId}`);
  if (g.tags.length) out.push(`tags: ${g.tags.join(', ')}`);
  if (g.error) out.push(`error: ${g.error}`);
  if (g.importNote) out.push(`note: ${g.importNote.replace(/\n/g, '; ')}`);
  for (const c of g.candidates) {
    out.push(`  ${c.id}  #${c.index}  seed ${c.seed ?? '-'}  ${c.width}x${c.height}  ${c.rating ? '★'.repeat(c.rating) : '·'}${c.favourite ? '  ♥' : ''}${c.accepted ? '  accepted' : ''}  ${c.sha256.slice(0, 16)}`);
  }
  // Line by line: a newline inside a stored field is shown as \n, never starts a line of its own.
  return out.map((l) => terminalText(l)).join('\n');
}

export function registerHistoryCommands(program: Command): void {
  const history = program.command('history').description('search, show, import and export the history of generations');

  history
    .command('search')
    .description('find generations: words in the prompt ("a phrase", prefix*, -exclude) and filters')
    .argument('[query...]', 'words to find in prompts')
    .option('--model <model>', 'model path, name or hash prefix')
    .option('--from <date>', 'made on or after (YYYY-MM-DD or ISO date-time)')
    .option('--to <date>', 'made on or before (YYYY-MM-DD or ISO date-time)')
    .option('--min-rating <stars>', 'a candidate rated at least this', int('--min-rating'))
    .option('--favourite', 'only entries with a favourite')
    .option('--tag <tag>', 'tagged with')
    .option('--project <id>', 'made in this project')
    .addOption(new Option('--mode <mode>', 'generation mode').choices(['txt2img', 'img2img', 'inpaint']))
    .option('--control', 'only entries made with ControlNet')
    .option('--no-control', 'only entries made without ControlNet')
    .addOption(new Option('--source <tool>', 'where it came from').choices(['atelier', 'a1111', 'forge', 'comfyui', 'invokeai', 'unknown']))
    .option('--negative', 'also search negative prompts')
    .addOption(new Option('--sort <order>', 'order').choices(['newest', 'oldest', 'rating', 'relevance']).default('newest'))
    .option('--limit <n>', 'entries per page', int('--limit'), 20)
    .option('--offset <n>', 'skip this many', int('--offset'), 0)
    .option('--json', 'print JSON')
    .action(async (words: string[], opts: Record<string, unknown>, command: Command) => {
      const query: LibrarySearchQueryInput = {
        text: words.join(' '),
        includeNegative: Boolean(opts.negative),
        sort: opts.sort as LibrarySearchQueryInput['sort'],
        limit: opts.limit as number,
        offset: opts.offset as number,
      };
      if (opts.model) query.model = opts.model as string;
      if (opts.from) query.from = opts.from as string;
      if (opts.to) query.to = opts.to as string;
      if (opts.minRating !== undefined) query.minRating = opts.minRating as number;
      if (opts.favourite) query.favourite = true;
      if (opts.tag) query.tag = opts.tag as string;
      if (opts.project) query.projectId = opts.project as string;
      if (opts.mode) query.mode = opts.mode as LibrarySearchQueryInput['mode'];
      if (opts.source) query.source = opts.source as LibrarySearchQueryInput['source'];
      // --control / --no-control: commander defaults `control` to true; only an explicit flag filters.
      if (command.getOptionValueSource('control') === 'cli') query.hasControl = Boolean(opts.control);
      await withStudio(async (studio) => {
        const result = await studio.call('library.search', query);
        if (opts.json) return console.log(terminalJson(result));
        for (const g of result.items) console.log(line(g));
        const shown = result.items.length;
        console.log(shown ? `${result.offset + 1}–${result.offset + shown} of ${result.total}` : `no matches (of ${result.total})`);
      });
    });

  history
    .command('show')
    .description('everything recorded about a generation (or the generation of a candidate)')
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) =>
      withStudio(async (studio) => {
        const record = await studio.call('library.get', { id });
        console.log(opts.json ? terminalJson(record) : describe(record));
      }),
    );

  history
    .command('recall')
    .description('print the generation request that re-runs an entry exactly (JSON), with warnings on stderr')
    .argument('<id>', 'generation or candidate id')
    .action(async (id: string) =>
      withStudio(async (studio) => {
        const result = await studio.call('library.recall', { id });
        for (const w of result.warnings) console.error(`warning: ${terminalText(w)}`);
        console.log(terminalJson(result.request));
      }),
    );

  history
    .command('lineage')
    .description('the iteration tree around an entry: what it refined and what refined it')
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) =>
      withStudio(async (studio) => {
        const result = await studio.call('library.lineage', { id });
        if (opts.json) return console.log(terminalJson(result));
        for (const n of result.ancestors) console.log(terminalText(`↑ ${n.generationId}  ${n.mode}  ${n.prompt.slice(0, 60)}`));
        console.log(`● ${result.generationId}`);
        for (const n of result.descendants) console.log(terminalText(`↓ ${n.generationId}  from ${n.parentCandidateId}  ${n.mode}  ${n.prompt.slice(0, 60)}`));
      }),
    );

  history
    .command('import')
    .description('add PNGs made here or with A1111, Forge, ComfyUI or InvokeAI to the history')
    .argument('<files...>')
    .option('--project <id>', 'file them under a project')
    .option('--json', 'print JSON')
    .action(async (files: string[], opts: { project?: string; json?: boolean }) =>
      withStudio(async (studio) => {
        const { results } = await studio.call('library.import', { paths: files, ...(opts.project ? { projectId: opts.project } : {}) });
        if (opts.json) console.log(terminalJson(results));
        else {
          for (const r of results) {
            if (r.ok) console.log(terminalText(`${r.path}: ${r.generationId} (${r.source}${r.withParameters ? ', with parameters' : ', no parameters'})${r.note ? ` — ${r.note.replace(/\n/g, '; ')}` : ''}`));
            else console.error(terminalText(`refused — ${r.error?.message}`));
          }
        }
        if (results.some((r) => !r.ok)) process.exitCode = 1;
      }),
    );

  history
    .command('export')
    .description('write an entry\'s images as PNGs with A1111 "parameters" and the full Atelier record')
    .argument('<id>', 'generation or candidate id')
    .requiredOption('--out <dir>', 'folder to write to')
    .action(async (id: string, opts: { out: string }) =>
      withStudio(async (studio) => {
        const { files } = await studio.call('library.export', { id, dir: opts.out });
        for (const f of files) console.log(terminalText(f));
      }),
    );

  history
    .command('rate')
    .description('rate a candidate 0–5 stars, mark it favourite or accepted')
    .argument('<candidate-id>')
    .argument('[stars]', '0 (none) to 5', int('stars'))
    .option('--favourite', 'mark as favourite')
    .option('--no-favourite', 'unmark favourite')
    .option('--accepted', 'mark as accepted')
    .action(async (candidateId: string, stars: number | undefined, opts: { favourite?: boolean; accepted?: boolean }, command: Command) =>
      withStudio(async (studio) => {
        const c = await studio.call('library.rate', {
          candidateId,
          ...(stars !== undefined ? { rating: stars } : {}),
          ...(command.getOptionValueSource('favourite') === 'cli' ? { favourite: Boolean(opts.favourite) } : {}),
          ...(opts.accepted ? { accepted: true } : {}),
        });
        console.log(`${c.id}: ${c.rating ? '★'.repeat(c.rating) : 'unrated'}${c.favourite ? ', favourite' : ''}${c.accepted ? ', accepted' : ''}`);
      }),
    );

  history
    .command('tag')
    .description('add (or with --remove, take off) tags')
    .argument('<id>')
    .argument('<tags...>')
    .option('--remove', 'remove the tags instead')
    .action(async (id: string, tags: string[], opts: { remove?: boolean }) =>
      withStudio(async (studio) => {
        await studio.call('library.tag', { generationIds: [id], ...(opts.remove ? { remove: tags } : { add: tags }) });
        const g = await studio.call('library.get', { id });
        console.log(terminalText(`${g.id}: ${g.tags.join(', ') || 'no tags'}`));
      }),
    );

  history
    .command('delete')
    .description('delete generations or candidates and the image files nothing else uses')
    .argument('<ids...>')
    .option('--with-descendants', 'also delete later generations refined from them')
    .action(async (ids: string[], opts: { withDescendants?: boolean }) =>
      withStudio(async (studio) => {
        const r = await studio.call('library.delete', { ids, withDescendants: Boolean(opts.withDescendants) });
        console.log(`deleted ${r.generations} generation(s), ${r.candidates} candidate(s), ${r.files} file(s)`);
      }),
    );

  history
    .command('backup')
    .description('copy the history database while Atelier may be running (SQLite online backup)')
    .argument('<file>', 'a new file')
    .action(async (file: string) =>
      withStudio(async (studio) => {
        const r = await studio.call('library.backup', { file });
        console.log(terminalText(`${r.file} (${(r.bytes / 1024).toFixed(0)} KiB). Images stay in ${resolveHome()}/library/images; copy that folder too for a full backup.`));
      }),
    );

  history
    .command('check')
    .description('check the history for damage and remove files no entry uses')
    .action(() => {
      const report = checkLibrary(resolveHome());
      for (const p of report.problems) console.error(`problem: ${terminalText(p)}`);
      console.log(`${report.problems.length ? `${report.problems.length} problem(s)` : 'no problems'}; removed ${report.removedFiles} unused file(s) and ${report.removedRows} unused image row(s)`);
      if (report.problems.length) process.exitCode = 1;
    });

  history
    .command('recover')
    .description('after a failed integrity check: move the damaged database aside and salvage its entries into a fresh one')
    .action(() => {
      const report = recoverLibraryAt(resolveHome());
      console.log(terminalText(`damaged database kept at ${report.damagedCopy}`));
      for (const [table, n] of Object.entries(report.copied)) console.log(terminalText(`${table}: ${n} row(s) salvaged`));
      for (const u of report.unreadable) console.error(`unreadable: ${terminalText(u)}`);
      if (report.dropped) console.log(`${report.dropped} row(s) dropped: what they pointed to was lost`);
    });
}
