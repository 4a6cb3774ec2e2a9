import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { terminalText } from '../../app/contract/terminal.js';
import { createStudio } from '../../app/service/index.js';
import { type WebServer, startWebServer } from './server.js';
import { isAddressInUse, newToken, readWebSession, writeWebSession } from './session-file.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      /** Omitted: the port of the last run in this data folder (so an open tab reconnects), else a free one. */
      port: { type: 'string' },
      'no-open': { type: 'boolean', default: false },
      'ui-dir': { type: 'string', default: path.join(root, 'dist', 'renderer') },
    },
  });
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new Error(`--port must be 0..65535, got ${values.port}`);

  const service = await createStudio({ transport: 'web' });
  // The last run's port and token, so a tab left open reconnects on its own (session-file.ts).
  const saved = readWebSession(service.ctx.home);
  const token = saved?.token ?? newToken();
  const wanted = port ?? saved?.port ?? 0;
  let server: WebServer;
  try {
    server = await startWebServer({ service, uiDir: values['ui-dir'], port: wanted, token });
  } catch (error) {
    if (port !== undefined || !isAddressInUse(error)) throw error;
    server = await startWebServer({ service, uiDir: values['ui-dir'], port: 0, token });
    console.log(`Port ${wanted} of the last run is taken: open tabs cannot reconnect by themselves. Reconnect with the link below.`);
  }
  writeWebSession(service.ctx.home, { port: server.port, token });
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
