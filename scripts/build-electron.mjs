// Bundles the Electron main process, the preload and the engine worker with esbuild into
// dist-electron/ (npm packages stay external: electron-builder ships node_modules, native
// ones unpacked from the asar):
//   main.cjs                       main/electron/main.ts with app/ inlined
//   preload.cjs                    main/electron/preload.ts, self-contained: a sandboxed
//                                  preload may require nothing but a few Electron modules
//   app/engine/worker/main.cjs     the engine worker entry, hosted by utilityProcess
//   app/engine/index.cjs           the engine, which the worker imports as ../index<its ext>
//   app/service/asset-thread.cjs   the worker thread that patches LoRAs and builds swapped VAEs
//                                  (app/service/asset-tasks.ts finds it under dist-electron/)
//   app/service/model-job-thread.cjs  the thread that imports and downloads models (model-jobs.ts)
// Sources are ESM TypeScript; the bundles are CommonJS because a sandboxed preload must be.
// `import.meta.url` in a bundled module is rewritten to that module's source location under
// the app root, so code that finds files relative to itself (package.json, onnxruntime's
// binding) keeps working; in the worker entry it is the bundle itself, so the worker finds
// the engine bundle beside it.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// --outdir: tests build into a temporary folder so parallel runs do not share dist-electron/.
const { values } = parseArgs({ options: { outdir: { type: 'string', default: path.join(root, 'dist-electron') } } });
const outdir = path.resolve(values.outdir);

const WORKER_ENTRY = 'app/engine/worker/main.ts';
const ENGINE_ENTRY = 'app/engine/index.ts';
const ASSET_THREAD_ENTRY = 'app/service/asset-thread.ts';
const MODEL_JOB_THREAD_ENTRY = 'app/service/model-job-thread.ts';

/**
 * Replaces import.meta.url / dirname / filename in our own sources: with the bundle's own
 * file for `selfFor` (a module whose bundle mirrors its source place), else with the source
 * file's place computed from the bundle's __dirname (the relative way from `bundleDir` to
 * the app root, the same in the asar as here). The helpers live in the bundle's banner, where `require` is still
 * Node's (a module may shadow it, as createRequire users do).
 */
function sourceLocation(bundleDir, selfFor) {
  const rootFromBundle = path.relative(bundleDir, root).split(path.sep).join('/') || '.';
  return {
    name: 'atelier-source-location',
    setup(b) {
      b.initialOptions.banner = {
        js: [
          `const __atelierSourceFile = (relative) => require('node:path').join(__dirname, ${JSON.stringify(rootFromBundle)}, relative);`,
          `const __atelierFileUrl = (file) => require('node:url').pathToFileURL(file).href;`,
          `const __atelierDirname = (file) => require('node:path').dirname(file);`,
        ].join('\n'),
      };
      b.onLoad({ filter: /\.(ts|mts)$/ }, async (args) => {
        if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
        let contents = await fs.promises.readFile(args.path, 'utf8');
        if (contents.includes('import.meta')) {
          const relative = path.relative(root, args.path).split(path.sep).join('/');
          const file = relative === selfFor ? '__filename' : `__atelierSourceFile(${JSON.stringify(relative)})`;
          contents = contents
            .replaceAll('import.meta.url', `__atelierFileUrl(${file})`)
            .replaceAll('import.meta.filename', file)
            .replaceAll('import.meta.dirname', `__atelierDirname(${file})`);
        }
        return { contents, loader: 'ts' };
      });
    },
  };
}

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node22', // Electron 41's Node
  sourcemap: true,
  logLevel: 'warning',
  absWorkingDir: root,
};

fs.rmSync(outdir, { recursive: true, force: true });

await build({
  ...common,
  entryPoints: { main: 'main/electron/main.ts' },
  outdir,
  outExtension: { '.js': '.cjs' },
  plugins: [sourceLocation(outdir)],
  // npm packages (onnxruntime-node, better-sqlite3, sharp, zod, …) are loaded from node_modules at run time.
  packages: 'external',
  external: ['electron'],
});

await build({
  ...common,
  entryPoints: { preload: 'main/electron/preload.ts' },
  outdir,
  outExtension: { '.js': '.cjs' },
  platform: 'browser',
  external: ['electron'],
});

const worker = fs.existsSync(path.join(root, WORKER_ENTRY));
if (worker) {
  for (const entry of [WORKER_ENTRY, ENGINE_ENTRY, ASSET_THREAD_ENTRY, MODEL_JOB_THREAD_ENTRY]) {
    const outfile = path.join(outdir, entry.replace(/\.ts$/, '.cjs'));
    await build({
      ...common,
      entryPoints: [entry],
      outfile,
      packages: 'external',
      external: ['electron'],
      plugins: [sourceLocation(path.dirname(outfile), WORKER_ENTRY)],
    });
  }
}

console.log(`${path.relative(root, outdir) || outdir}/: main.cjs, preload.cjs${worker ? `, ${[WORKER_ENTRY, ENGINE_ENTRY, ASSET_THREAD_ENTRY, MODEL_JOB_THREAD_ENTRY].map((e) => e.replace(/\.ts$/, '.cjs')).join(', ')}` : ' (no engine worker yet)'}`);
