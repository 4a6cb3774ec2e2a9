// The two IPC channels between the window and main. Fixed names, so main can refuse every
// other channel and the preload exposes nothing but these (Electron security checklist
// §17 "Validate the sender of all IPC messages" and §20 "Do not expose Electron APIs").

/** Renderer → main: one StudioApi call (the ApiRequest envelope), answered with an ApiResponse. */
export const CALL_CHANNEL = 'atelier:call';

/** Main → renderer: every StudioEvent, pushed to our own windows only. */
export const EVENT_CHANNEL = 'atelier:event';

/** The custom scheme that serves the UI, library images and project parts. */
export const APP_SCHEME = 'atelier';

/** The origin the UI is loaded from; only frames at this origin may call the StudioApi. */
export const APP_ORIGIN = `${APP_SCHEME}://app`;

/** Where the UI starts. */
export const APP_ENTRY_URL = `${APP_ORIGIN}/index.html`;

/**
 * StudioApi version this shell speaks (equal to app/contract's API_VERSION; a unit test
 * holds them together). Kept as a literal so the sandboxed preload bundles no schema code.
 */
export const IPC_API_VERSION = 1;
