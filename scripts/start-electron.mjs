// `npm start`: the desktop app. Electron's binary is not part of `npm install` here (its
// download from GitHub is skipped), so say how to get it, or how to use web mode instead.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function electronBinary() {
  try {
    return require('electron'); // the package's index resolves the binary's path
  } catch (error) {
    return { error };
  }
}

const binary = electronBinary();
if (typeof binary !== 'string') {
  console.error(
    [
      "Atelier's desktop app needs Electron's binary, which is not installed on this machine.",
      '  - To get it (needs access to github.com):  node node_modules/electron/install.js',
      '  - Or run the same studio in your browser:   npm run web',
    ].join('\n'),
  );
  process.exit(1);
}

const build = spawnSync(process.execPath, ['scripts/build-electron.mjs'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const ui = spawnSync('npm', ['run', 'build:ui'], { stdio: 'inherit', shell: process.platform === 'win32' });
if (ui.status !== 0) process.exit(ui.status ?? 1);
const run = spawnSync(binary, ['.'], { stdio: 'inherit' });
process.exit(run.status ?? 0);
