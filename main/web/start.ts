import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { terminalText } from '../../app/contract/terminal.js';
import { createStudio } from '../../app/service/index.js';
import { startWebServer } from './server.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      'no-open': { type: 'boolean', default: false },
      'ui-dir': { type: 'string', default: path.join(root, 'dist', 'renderer') },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535, got ${values.port}`);

  const service = await createStudio({ transport: 'web' });
  const server = await startWebServer({ service, uiDir: values['ui-dir'], port });
  console.log(terminalText(`Atelier is running in web mode (data: ${service.ctx.home})`));
  console.log(`Open: ${server.url}`);
  // Machine-readable line for scripts and tests that start the server.
  console.log(`ATELIER_URL=${server.url}`);

  const canOpen = !values['no-open'] && !process.env.CI && (process.platform !== 'linux' || Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY));
  if (canOpen) {
    const { default: open } = await import('open');
    open(server.url).catch(() => console.log('Could not open a browser; open the URL above yourself.'));
  }

  const shutdown = async () => {
    await server.close();
    await service.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
}

main().catch((error: unknown) => {
  // A start-up failure may quote a file (settings, library) or a path: shown escaped in the log.
  console.error(terminalText(error instanceof Error ? error.message : String(error), { keepNewlines: true }));
  process.exit(1);
});
