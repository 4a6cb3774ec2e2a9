import { APP_SCHEME } from './channels.js';

// The desktop window's Content-Security-Policy, sent as a header with every atelier://app
// response (Electron security checklist §7 "Define a Content Security Policy"). Same shape
// as web mode's (main/web/server.ts): no inline script, no eval, nothing remote. Library
// images and project parts come from their own atelier:// hosts, so images and fetches may
// reach those two and nothing else.

const mediaHosts = [`${APP_SCHEME}://library`, `${APP_SCHEME}://project`];

export const CSP_DIRECTIVES: Readonly<Record<string, readonly string[]>> = {
  'default-src': ["'none'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:', 'blob:', ...mediaHosts],
  'font-src': ["'self'"],
  'connect-src': ["'self'", ...mediaHosts],
  'worker-src': ["'self'", 'blob:'],
  'manifest-src': ["'self'"],
  'media-src': ["'none'"],
  'object-src': ["'none'"],
  'frame-src': ["'none'"],
  'child-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'none'"],
  'frame-ancestors': ["'none'"],
};

export function contentSecurityPolicy(directives: Readonly<Record<string, readonly string[]>> = CSP_DIRECTIVES): string {
  return Object.entries(directives)
    .map(([name, sources]) => `${name} ${sources.join(' ')}`)
    .join('; ');
}

/** Parses a policy header back into directives (used by tests and by the checklist check). */
export function parseContentSecurityPolicy(policy: string): Map<string, string[]> {
  const parsed = new Map<string, string[]>();
  for (const part of policy.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) parsed.set(name.toLowerCase(), sources);
  }
  return parsed;
}
