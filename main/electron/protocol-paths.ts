import fs from 'node:fs';
import path from 'node:path';
import { APP_SCHEME } from './channels.js';

// Maps atelier:// URLs to files, confined to fixed roots. Each host is one root:
//   atelier://app/…      the built UI (dist/renderer)
//   atelier://library/…  the library's images/ and thumbs/ (ATELIER_HOME/library), nothing
//                        else there (never library.sqlite); images also by bare SHA-256
//   atelier://project/…  parts of open projects (their working folders); none when unset
// A URL that could reach outside its root is refused, not "cleaned": encoded or literal
// dot segments, separators inside a segment, drive letters, empty segments (absolute
// paths), NUL, and symlinks whose real path leaves the root (realpath on both sides).

export type ProtocolHost = 'app' | 'library' | 'project';

export type ProtocolRoots = Partial<Record<ProtocolHost, string | undefined>>;

export type ResolvedFile =
  | { ok: true; host: ProtocolHost; file: string; mimeType: string }
  | { ok: false; status: 400 | 403 | 404; reason: string };

/** Content types served, by extension; anything else is refused (no sniffing, no guessing). */
const MIME_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

/** What each host may serve: library and project parts are images and JSON, never script. */
const ALLOWED_EXTENSIONS: Readonly<Record<ProtocolHost, ReadonlySet<string>>> = {
  app: new Set(Object.keys(MIME_TYPES)),
  library: new Set(['.png', '.webp']),
  project: new Set(['.png', '.jpg', '.jpeg', '.webp', '.json']),
};

const SHA256_FILE = /^[0-9a-f]{64}\.(png|webp)$/;
/** The library folders served, with the one extension each holds (app/library/image-store.ts). */
const LIBRARY_FOLDERS: Readonly<Record<string, string>> = { images: '.png', thumbs: '.webp' };

/**
 * atelier://library/<sha256>.png (the image) or atelier://library/thumbs/<sha256>.webp: the
 * store's own layout is images/ab/abcdef….png, which these short forms expand to.
 */
export function libraryImageUrl(sha256: string, kind: 'image' | 'thumbnail' = 'image'): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`Not a SHA-256 hex digest: "${sha256}"`);
  return kind === 'image' ? `${APP_SCHEME}://library/${sha256}.png` : `${APP_SCHEME}://library/thumbs/${sha256}.webp`;
}

/** The library's short forms expanded to the store layout; undefined outside images/ and thumbs/. */
function librarySegments(segments: string[]): string[] | undefined {
  const [first = '', second = '', third = ''] = segments;
  const extension = Object.hasOwn(LIBRARY_FOLDERS, first) ? LIBRARY_FOLDERS[first]! : undefined;
  if (segments.length === 1 && first.endsWith('.png') && SHA256_FILE.test(first)) return ['images', first.slice(0, 2), first];
  if (segments.length === 2 && extension && second.endsWith(extension) && SHA256_FILE.test(second)) return [first, second.slice(0, 2), second];
  if (segments.length === 3 && extension && third.endsWith(extension)) return segments;
  return undefined;
}

function isHost(host: string): host is ProtocolHost {
  return host === 'app' || host === 'library' || host === 'project';
}

/**
 * Decodes each path segment and refuses any that could step outside the root or be read
 * as a separator on some platform; returns the segments, or a reason.
 */
export function safeSegments(pathname: string): { ok: true; segments: string[] } | { ok: false; reason: string } {
  if (!pathname.startsWith('/')) return { ok: false, reason: 'relative path' };
  const raw = pathname.slice(1).split('/');
  const segments: string[] = [];
  for (const part of raw) {
    let segment: string;
    try {
      segment = decodeURIComponent(part);
    } catch {
      return { ok: false, reason: 'malformed percent-encoding' };
    }
    if (segment === '') return { ok: false, reason: 'empty path segment (absolute path or double slash)' };
    if (segment === '.' || segment === '..') return { ok: false, reason: 'dot segment' };
    if (/[/\\\0]/.test(segment)) return { ok: false, reason: 'separator or NUL inside a path segment' };
    if (segment.includes(':')) return { ok: false, reason: 'drive letter or stream name in a path segment' };
    segments.push(segment);
  }
  return { ok: true, segments };
}

function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/** Resolves one atelier:// URL to a regular file under its host's root, following symlinks only within it. */
export function resolveProtocolUrl(rawUrl: string, roots: ProtocolRoots): ResolvedFile {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return { ok: false, status: 400, reason: 'not a URL' };
  }
  if (url.protocol !== `${APP_SCHEME}:`) return { ok: false, status: 400, reason: `not an ${APP_SCHEME}: URL` };
  if (url.username || url.password || url.port) return { ok: false, status: 400, reason: 'credentials or port in URL' };
  if (!isHost(url.host)) return { ok: false, status: 404, reason: `unknown host "${url.host}"` };
  const host = url.host;
  const root = roots[host];
  if (!root) return { ok: false, status: 404, reason: `nothing is served at ${APP_SCHEME}://${host} now` };

  const pathname = host === 'app' && url.pathname === '/' ? '/index.html' : url.pathname;
  const parsed = safeSegments(pathname);
  if (!parsed.ok) return { ok: false, status: 403, reason: parsed.reason };
  let segments = parsed.segments;
  let confinedTo = root;
  if (host === 'library') {
    const expanded = librarySegments(segments);
    if (!expanded) return { ok: false, status: 404, reason: 'the library serves only images/ and thumbs/' };
    segments = expanded.slice(1);
    confinedTo = path.join(root, expanded[0]!);
  }

  const extension = path.extname(segments.at(-1)!).toLowerCase();
  if (!ALLOWED_EXTENSIONS[host].has(extension)) return { ok: false, status: 403, reason: `${host} does not serve "${extension || 'extensionless'}" files` };

  let realRoot: string;
  let realFile: string;
  try {
    realRoot = fs.realpathSync(confinedTo);
  } catch {
    return { ok: false, status: 404, reason: `${host} root does not exist` };
  }
  const joined = path.join(realRoot, ...segments);
  if (!isInside(realRoot, joined)) return { ok: false, status: 403, reason: 'outside the root' };
  try {
    realFile = fs.realpathSync(joined);
  } catch {
    return { ok: false, status: 404, reason: 'no such file' };
  }
  // The symlink check: where the file really is, not where its name says.
  if (!isInside(realRoot, realFile)) return { ok: false, status: 403, reason: 'symlink leads outside the root' };
  if (!fs.statSync(realFile).isFile()) return { ok: false, status: 404, reason: 'not a file' };
  return { ok: true, host, file: realFile, mimeType: MIME_TYPES[extension]! };
}
