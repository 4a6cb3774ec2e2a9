import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

// A local stand-in for huggingface.co on 127.0.0.1 (docs/models.md, "Downloading from the
// Hugging Face Hub"), answering as the Hub does: model info with siblings and LFS sha256
// (`/api/models/REPO/revision/main`), `REPO/resolve/main/FILE` as a 302 to a "CDN" path that
// honours Range and sends an ETag. Knobs: a gated repo that wants `Bearer secret`, a lying
// hash, a transfer cut short after half its bytes, and an optional delay per chunk (so a test
// can see progress while a download runs). Never the internet.

export interface StandInHub {
  endpoint: string;
  /** Files per repo: path in the repo → bytes. */
  repos: Map<string, Map<string, Buffer>>;
  /** Every request: path, Range and Authorization headers. */
  seen: { url: string; range?: string; auth?: string }[];
  /** The next file transfer stops cleanly after half its bytes. */
  cutNext: boolean;
  /** Model info lists a wrong sha256 for LFS files. */
  lie: boolean;
  /** Repos that answer 401 unless the request carries `Bearer secret`. */
  gated: Set<string>;
  /** Files are sent in this many pieces with `chunkDelayMs` between them (default: one piece). */
  chunks: number;
  chunkDelayMs: number;
  close(): Promise<void>;
}

/** Every file under `dir` as [path relative to it, bytes]. */
export function listFiles(dir: string, base = ''): [string, Buffer][] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name), `${base}${e.name}/`) : [[`${base}${e.name}`, fs.readFileSync(path.join(dir, e.name))] as [string, Buffer]]));
}

export async function startStandInHub(): Promise<StandInHub> {
  const hub: Omit<StandInHub, 'endpoint' | 'close'> = { repos: new Map(), seen: [], cutNext: false, lie: false, gated: new Set(), chunks: 1, chunkDelayMs: 0 };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    hub.seen.push({ url: url.pathname, ...(req.headers.range ? { range: req.headers.range } : {}), ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
    const refused = (repo: string) => hub.gated.has(repo) && req.headers.authorization !== 'Bearer secret';
    let m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/main$/.exec(url.pathname);
    if (m) {
      const files = hub.repos.get(m[1]!);
      if (!files) return void res.writeHead(404).end();
      if (refused(m[1]!)) return void res.writeHead(401).end();
      const siblings = [...files].map(([f, b]) => ({
        rfilename: f,
        size: b.length,
        ...(f.endsWith('.safetensors') || f.endsWith('.onnx') ? { lfs: { sha256: hub.lie ? '0'.repeat(64) : crypto.createHash('sha256').update(b).digest('hex'), size: b.length } } : {}),
      }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: m[1], siblings }));
      return;
    }
    m = /^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/.exec(url.pathname);
    if (m) {
      if (refused(m[1]!)) return void res.writeHead(401).end();
      if (!hub.repos.get(m[1]!)?.has(decodeURIComponent(m[2]!))) return void res.writeHead(404).end();
      res.writeHead(302, { location: `/cdn/${m[1]}/${m[2]}` }).end();
      return;
    }
    m = /^\/cdn\/([^/]+\/[^/]+)\/(.+)$/.exec(url.pathname);
    const body = m ? hub.repos.get(m[1]!)?.get(decodeURIComponent(m[2]!)) : undefined;
    if (!body) return void res.writeHead(404).end();
    const r = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = r ? Number(r[1]) : 0;
    const slice = body.subarray(start);
    if (hub.cutNext) {
      // a transfer cut short: the connection ends cleanly after half the bytes
      hub.cutNext = false;
      const half = slice.subarray(0, slice.length >> 1);
      res.writeHead(r ? 206 : 200, { 'content-length': half.length }).end(half);
      return;
    }
    res.writeHead(r ? 206 : 200, { 'content-length': slice.length, etag: `"${crypto.createHash('sha256').update(body).digest('hex')}"`, ...(r ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}) });
    const size = Math.ceil(slice.length / Math.max(1, hub.chunks));
    const send = (at: number) => {
      if (at >= slice.length) return void res.end();
      res.write(slice.subarray(at, at + size));
      if (hub.chunkDelayMs > 0) setTimeout(() => send(at + size), hub.chunkDelayMs);
      else send(at + size);
    };
    send(0);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(hub, {
    endpoint,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}
