import type { BrowserWindowConstructorOptions, WebPreferences } from 'electron';

// The studio window's options, and a check of any options against Electron's security
// checklist (https://www.electronjs.org/docs/latest/tutorial/security), so a test fails the
// day someone loosens one.

export interface WindowBounds {
  x?: number;
  y?: number;
  width: number;
  height: number;
}

export const MIN_WINDOW_SIZE = { width: 960, height: 640 } as const;

export function studioWindowOptions(options: { preload: string; bounds: WindowBounds; title?: string }): BrowserWindowConstructorOptions {
  return {
    ...options.bounds,
    minWidth: MIN_WINDOW_SIZE.width,
    minHeight: MIN_WINDOW_SIZE.height,
    title: options.title ?? 'Atelier',
    // Shown on 'ready-to-show', so the artist never sees an empty white frame.
    show: false,
    backgroundColor: '#1e1e1e',
    webPreferences: {
      preload: options.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: true,
    },
  };
}

/** Each checklist item as [webPreference, the value it must have, why]. */
const REQUIRED_PREFERENCES: ReadonlyArray<[keyof WebPreferences, unknown, string]> = [
  ['contextIsolation', true, '§3 context isolation keeps the preload apart from the page'],
  ['sandbox', true, '§4 sandbox the renderer'],
  ['nodeIntegration', false, '§2 no Node.js in a page that shows model output'],
  ['nodeIntegrationInWorker', false, '§2 no Node.js in workers'],
  ['nodeIntegrationInSubFrames', false, '§2 no Node.js in subframes'],
  ['webSecurity', true, '§6 keep webSecurity (same-origin policy)'],
  ['allowRunningInsecureContent', false, '§8 no insecure content'],
  ['experimentalFeatures', false, '§9 no experimental features'],
  ['webviewTag', false, '§12 no <webview>'],
];

/** Lists every way `options` breaks the checklist; empty when it keeps all of it. */
export function securityChecklistViolations(options: BrowserWindowConstructorOptions): string[] {
  const prefs = options.webPreferences;
  if (!prefs) return ['webPreferences missing: Electron defaults are not to be relied on'];
  const violations: string[] = [];
  for (const [key, required, why] of REQUIRED_PREFERENCES) {
    if (prefs[key] !== required) violations.push(`${key} must be ${String(required)} (${why}), is ${String(prefs[key])}`);
  }
  if (prefs.enableBlinkFeatures) violations.push('§10 enableBlinkFeatures must not be set');
  if (prefs.additionalArguments?.length) violations.push('additionalArguments must not be set: nothing passes process flags to the page');
  if (typeof prefs.preload !== 'string' || !prefs.preload) violations.push('a preload script is required: it is the only bridge');
  return violations;
}
