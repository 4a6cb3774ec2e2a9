import { describe, expect, it } from 'vitest';
import { EXTERNAL_LINK_INTERVAL_MS, externalLinkToOpen, mayGrantPermission, mayNavigate } from '../../main/electron/policy.js';
import { securityChecklistViolations, studioWindowOptions } from '../../main/electron/window-options.js';

const options = studioWindowOptions({ preload: '/app/dist-electron/preload.cjs', bounds: { width: 1440, height: 900 } });

describe('the studio window against Electron’s security checklist', () => {
  it('keeps every item', () => {
    expect(securityChecklistViolations(options)).toEqual([]);
    expect(options.webPreferences).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true, webviewTag: false });
  });

  it.each([
    ['contextIsolation', false],
    ['sandbox', false],
    ['nodeIntegration', true],
    ['nodeIntegrationInWorker', true],
    ['nodeIntegrationInSubFrames', true],
    ['webSecurity', false],
    ['allowRunningInsecureContent', true],
    ['experimentalFeatures', true],
    ['webviewTag', true],
    ['sandbox', undefined], // left to a default is not good enough
  ])('flags %s = %s', (key, value) => {
    const loosened = { ...options, webPreferences: { ...options.webPreferences, [key]: value } };
    expect(securityChecklistViolations(loosened).join('\n')).toContain(key);
  });

  it('flags Blink features, extra process arguments, a missing preload and missing preferences', () => {
    expect(securityChecklistViolations({ ...options, webPreferences: { ...options.webPreferences, enableBlinkFeatures: 'X' } })).toHaveLength(1);
    expect(securityChecklistViolations({ ...options, webPreferences: { ...options.webPreferences, additionalArguments: ['--x'] } })).toHaveLength(1);
    expect(securityChecklistViolations({ ...options, webPreferences: { ...options.webPreferences, preload: '' } })).toHaveLength(1);
    expect(securityChecklistViolations({ width: 10 })).toHaveLength(1);
  });

  it('opens hidden until ready and no smaller than the canvas needs', () => {
    expect(options.show).toBe(false);
    expect(options.minWidth).toBeGreaterThanOrEqual(800);
  });
});

describe('navigation, new windows and links', () => {
  it('lets the window show only our UI', () => {
    expect(mayNavigate('atelier://app/index.html')).toBe(true);
    for (const url of ['https://example.com/', 'file:///etc/passwd', 'atelier://library/x.png', 'javascript:alert(1)', 'data:text/html,hi', 'about:blank']) {
      expect(mayNavigate(url)).toBe(false);
    }
  });

  it('opens http(s) links the user clicked in the system browser, one at a time', () => {
    expect(externalLinkToOpen({ url: 'https://github.com/atelier', disposition: 'foreground-tab' }, 10_000, undefined)).toBe('https://github.com/atelier');
    expect(externalLinkToOpen({ url: 'http://example.com/a?b=c', disposition: 'background-tab' }, 10_000, 0)).toBe('http://example.com/a?b=c');
    expect(externalLinkToOpen({ url: 'https://example.com/', disposition: 'foreground-tab' }, 10_000, 10_000 - EXTERNAL_LINK_INTERVAL_MS + 1)).toBeUndefined();
  });

  it.each([
    ['file:///etc/passwd', 'foreground-tab'],
    ['smb://host/share', 'foreground-tab'],
    ['atelier://app/index.html', 'foreground-tab'],
    ['javascript:alert(1)', 'foreground-tab'],
    ['https://user:pass@example.com/', 'foreground-tab'],
    ['not a url', 'foreground-tab'],
    [`https://example.com/${'a'.repeat(3000)}`, 'foreground-tab'],
    ['https://example.com/', 'new-window'], // window.open with features: script, not a click
    ['https://example.com/', 'default'],
    ['https://example.com/', 'other'],
  ] as const)('never opens %s (%s)', (url, disposition) => {
    expect(externalLinkToOpen({ url, disposition }, 10_000, undefined)).toBeUndefined();
  });

  it('grants only clipboard writes, and only to our UI', () => {
    expect(mayGrantPermission('clipboard-sanitized-write', 'atelier://app/index.html')).toBe(true);
    expect(mayGrantPermission('clipboard-sanitized-write', 'https://example.com/')).toBe(false);
    for (const permission of ['media', 'notifications', 'geolocation', 'clipboard-read', 'openExternal', 'fullscreen', 'hid', 'serial', 'usb', 'display-capture', 'pointerLock', 'unknown']) {
      expect(mayGrantPermission(permission, 'atelier://app/index.html')).toBe(false);
    }
  });
});
