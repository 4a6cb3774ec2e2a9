import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CSP_DIRECTIVES, contentSecurityPolicy, parseContentSecurityPolicy } from '../../main/electron/csp.js';
import { createProtocolHandler } from '../../main/electron/protocol.js';
import { type ProtocolRoots, libraryImageUrl, resolveProtocolUrl } from '../../main/electron/protocol-paths.js';
import { tempHome } from '../helpers/home.js';

// A fake disk: the UI, a library (with its SQLite file beside the images), an open
// project, and a secret outside every root that each attack tries to reach.
const { home, cleanup } = tempHome('atelier-protocol-');
afterAll(cleanup);

const sha = 'ab'.padEnd(64, '0');
const otherSha = 'cd'.padEnd(64, '1');
const write = (relative: string, content: string | Buffer) => {
  const file = path.join(home, relative);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
};
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
write('ui/index.html', '<!doctype html><title>Atelier</title>');
write('ui/assets/app.js', 'console.log(1)');
write(`library/images/ab/${sha}.png`, PNG);
write(`library/thumbs/ab/${sha}.webp`, 'RIFFwebp');
write('library/library.sqlite', 'SQLite format 3');
write('project/p1/layers/sketch.png', PNG);
write('project/p1/manifest.json', '{"version":1}');
const secret = write('secret/passwords.png', 'top secret');
write('secret/notes.json', '{"secret":true}');
fs.symlinkSync(secret, path.join(home, 'project/p1/escape.png'));
fs.symlinkSync(path.join(home, 'secret'), path.join(home, 'project/p1/linked-folder'));
fs.symlinkSync(path.join(home, 'project/p1/layers/sketch.png'), path.join(home, 'project/p1/alias.png'));
fs.mkdirSync(path.join(home, 'library/images/cd'));
fs.symlinkSync(path.join(home, 'secret/passwords.png'), path.join(home, `library/images/cd/${otherSha}.png`));
fs.mkdirSync(path.join(home, 'project/p1/folder.png'));

const roots: ProtocolRoots = { app: path.join(home, 'ui'), library: path.join(home, 'library'), project: path.join(home, 'project') };

function refusedStatus(url: string, r: ProtocolRoots = roots): number {
  const resolved = resolveProtocolUrl(url, r);
  if (resolved.ok) throw new Error(`${url} was served: ${resolved.file}`);
  return resolved.status;
}

describe('atelier:// path confinement', () => {
  it.each([
    ['atelier://app/', 'ui/index.html', 'text/html; charset=utf-8'],
    ['atelier://app/index.html', 'ui/index.html', 'text/html; charset=utf-8'],
    ['atelier://app/assets/app.js', 'ui/assets/app.js', 'text/javascript; charset=utf-8'],
    [`atelier://library/${sha}.png`, `library/images/ab/${sha}.png`, 'image/png'],
    [`atelier://library/images/ab/${sha}.png`, `library/images/ab/${sha}.png`, 'image/png'],
    [`atelier://library/thumbs/${sha}.webp`, `library/thumbs/ab/${sha}.webp`, 'image/webp'],
    ['atelier://project/p1/layers/sketch.png', 'project/p1/layers/sketch.png', 'image/png'],
    ['atelier://project/p1/manifest.json', 'project/p1/manifest.json', 'application/json'],
    ['atelier://project/p1/alias.png', 'project/p1/layers/sketch.png', 'image/png'], // a symlink that stays inside
    ['atelier://project/p1/layers/sketch%2Epng', 'project/p1/layers/sketch.png', 'image/png'],
  ])('serves %s', (url, relative, mimeType) => {
    expect(resolveProtocolUrl(url, roots)).toEqual({ ok: true, host: new URL(url).host, file: fs.realpathSync(path.join(home, relative)), mimeType });
  });

  it.each([
    // literal and encoded traversal (the URL parser folds some; the rest are refused)
    'atelier://project/p1/../../secret/passwords.png',
    'atelier://project/%2e%2e/secret/passwords.png',
    'atelier://project/p1/%2E%2E/%2E%2E/secret/passwords.png',
    'atelier://project/..%2fsecret%2fpasswords.png',
    'atelier://project/p1%2f..%2f..%2fsecret/passwords.png',
    'atelier://project/..%5csecret%5cpasswords.png',
    'atelier://project/p1\\..\\..\\secret\\passwords.png',
    'atelier://project/%252e%252e/secret/passwords.png',
    'atelier://app/..%2F..%2Fsecret%2Fpasswords.png',
  ])('refuses traversal: %s', (url) => {
    expect(resolveProtocolUrl(url, roots).ok).toBe(false);
  });

  it.each([
    `atelier://project/${encodeURIComponent(path.join(home, 'secret/passwords.png'))}`,
    'atelier://project//etc/passwd.png',
    `atelier://project/${home.split('/').join('//')}/secret/passwords.png`,
    'atelier://project/C:%5CWindows%5Cwin.ini.png',
    'atelier://project/p1/file.png%00.json',
    'atelier:///etc/passwd.png',
    'atelier://localhost/etc/passwd.png',
  ])('refuses an absolute path or a foreign host: %s', (url) => {
    expect(resolveProtocolUrl(url, roots).ok).toBe(false);
  });

  it('refuses symlinks whose real place is outside the root', () => {
    expect(refusedStatus('atelier://project/p1/escape.png')).toBe(403);
    expect(refusedStatus('atelier://project/p1/linked-folder/notes.json')).toBe(403);
    expect(refusedStatus(`atelier://library/${otherSha}.png`)).toBe(403);
  });

  it('serves only images and thumbnails from the library, never its database', () => {
    expect(refusedStatus('atelier://library/library.sqlite')).toBe(404);
    expect(refusedStatus('atelier://library/images/../library.sqlite')).toBe(404);
    expect(refusedStatus(`atelier://library/thumbs/${sha}.png`)).toBe(404);
    expect(refusedStatus(`atelier://library/images/ab/${sha}.js`)).toBe(404);
  });

  it('refuses script from project parts and unknown file types everywhere', () => {
    write('project/p1/payload.js', 'alert(1)');
    write('project/p1/page.html', '<script>alert(1)</script>');
    expect(refusedStatus('atelier://project/p1/payload.js')).toBe(403);
    expect(refusedStatus('atelier://project/p1/page.html')).toBe(403);
    expect(refusedStatus('atelier://app/README')).toBe(403);
  });

  it('answers 404 for what is missing, and for a host with no root now', () => {
    expect(refusedStatus('atelier://project/p1/missing.png')).toBe(404);
    expect(refusedStatus('atelier://project/p1/folder.png')).toBe(404);
    expect(refusedStatus('atelier://project/p1/layers/sketch.png', { ...roots, project: undefined })).toBe(404);
    expect(refusedStatus('atelier://plugins/x.png')).toBe(404);
  });

  it('builds library URLs only from a SHA-256', () => {
    expect(libraryImageUrl(sha)).toBe(`atelier://library/${sha}.png`);
    expect(libraryImageUrl(sha, 'thumbnail')).toBe(`atelier://library/thumbs/${sha}.webp`);
    expect(() => libraryImageUrl('../../etc/passwd')).toThrow(/SHA-256/);
  });
});

describe('atelier:// handler', () => {
  const refused: string[] = [];
  const handle = createProtocolHandler({ roots: () => roots, onRefused: (url) => refused.push(url) });

  it('serves the UI with the CSP and nosniff', async () => {
    const response = await handle(new Request('atelier://app/index.html'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toBe(contentSecurityPolicy());
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await response.text()).toContain('<title>Atelier</title>');
  });

  it('serves library images to the UI origin only (CORS), byte for byte', async () => {
    const response = await handle(new Request(`atelier://library/${sha}.png`));
    expect(response.headers.get('access-control-allow-origin')).toBe('atelier://app');
    expect(Buffer.from(await response.arrayBuffer())).toEqual(PNG);
  });

  it('refuses writes and traversal without saying where the disk is', async () => {
    expect((await handle(new Request('atelier://app/index.html', { method: 'POST', body: 'x' }))).status).toBe(405);
    const response = await handle(new Request('atelier://project/p1/escape.png'));
    expect(response.status).toBe(403);
    expect(await response.text()).toBe('Refused');
    expect(refused).toContain('atelier://project/p1/escape.png');
  });
});

describe('Content-Security-Policy', () => {
  const policy = parseContentSecurityPolicy(contentSecurityPolicy());

  it('round-trips', () => {
    expect(Object.fromEntries(policy)).toEqual(Object.fromEntries(Object.entries(CSP_DIRECTIVES).map(([k, v]) => [k, [...v]])));
  });

  it('allows no inline or evaluated script, no remote origin, no plugins and no framing', () => {
    const all = [...policy.values()].flat();
    expect(all).not.toContain("'unsafe-inline'");
    expect(all).not.toContain("'unsafe-eval'");
    expect(all.some((source) => /^(https?:|wss?:|\*)/.test(source))).toBe(false);
    expect(policy.get('default-src')).toEqual(["'none'"]);
    expect(policy.get('script-src')).toEqual(["'self'"]);
    expect(policy.get('object-src')).toEqual(["'none'"]);
    expect(policy.get('frame-ancestors')).toEqual(["'none'"]);
    expect(policy.get('base-uri')).toEqual(["'none'"]);
  });
});
