import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { listModelFiles } from '../../library/model-hash.js';
import type { ModelSource } from './protocol.js';
import type { ModelOffer } from './studio-backend.js';

// The studio's model endpoint (docs/farm.md, "Models"): a worker that lacks a model a job
// names by content hash fetches it from the studio that submitted the job. Only models this
// studio has put in a job are served, each file by its place in the model's manifest (no path
// from the request ever reaches the file system), to a bearer token kept in <home>/farm; a
// `Range` request resumes a file, and each file's SHA-256 in the manifest lets the worker check
// what it got (the manifest's lines are exactly what the model's content hash is made of).

export interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
}

export interface Manifest {
  hash: string;
  files: ManifestFile[];
}

export interface ModelServerOptions {
  /** Folder of the token file (<home>/farm). */
  dir: string;
  /** host:port to listen on; port 0 picks a free one. */
  listen: string;
  /** The URL workers use, when it differs from http://<listen> (a proxy, NAT, a host name). */
  publicUrl?: string;
  /** Told of each file sent and the byte it started at (a resumed fetch starts past 0). */
  onSend?: (hash: string, file: string, start: number) => void;
}

const TOKEN_FILE = 'model-token';

export class ModelServer implements ModelOffer {
  private readonly offered = new Map<string, string>();
  private readonly manifests = new Map<string, Promise<{ manifest: Manifest; abs: Map<string, string> }>>();
  private readonly server: http.Server;
  private readonly token: string;
  private url = '';

  constructor(private readonly options: ModelServerOptions) {
    this.token = modelToken(options.dir);
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  /** Starts listening; resolves to the URL workers are told. */
  async start(): Promise<string> {
    const [host, portText] = splitHostPort(this.options.listen);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(Number(portText), host, () => resolve());
    });
    const { port } = this.server.address() as AddressInfo;
    this.url = this.options.publicUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    return this.url;
  }

  offer(hash: string, dir: string): void {
    this.offered.set(hash, dir);
  }

  source(): ModelSource {
    return { url: this.url, token: this.token };
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private manifest(hash: string): Promise<{ manifest: Manifest; abs: Map<string, string> }> | undefined {
    const dir = this.offered.get(hash);
    if (!dir) return undefined;
    let made = this.manifests.get(hash);
    if (!made) {
      made = buildManifest(hash, dir);
      this.manifests.set(hash, made);
      made.catch(() => this.manifests.delete(hash)); // tried again on the next request
    }
    return made;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const send = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
    };
    try {
      const auth = req.headers.authorization ?? '';
      const given = Buffer.from(auth.startsWith('Bearer ') ? auth.slice(7) : '');
      const expected = Buffer.from(this.token);
      if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return send(401, 'missing or wrong token');
      if (req.method !== 'GET') return send(405, 'GET only');
      const match = /^\/farm\/models\/([0-9a-f]{64})\/(manifest|files\/(\d+))$/.exec(req.url ?? '');
      const made = match ? this.manifest(match[1]!) : undefined;
      if (!match || !made) return send(404, 'no such model here');
      const { manifest, abs } = await made;
      if (match[2] === 'manifest') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(manifest));
        return;
      }
      // Files by their index in the manifest: a request never names a path.
      const file = manifest.files[Number(match[3])];
      if (!file) return send(404, 'no such file in the model');
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = range ? Number(range[1]) : 0;
      if (start > file.size) return send(416, 'range past the end');
      res.writeHead(range ? 206 : 200, {
        'content-type': 'application/octet-stream',
        'content-length': String(file.size - start),
        ...(range ? { 'content-range': `bytes ${start}-${file.size - 1}/${file.size}` } : {}),
      });
      this.options.onSend?.(match[1]!, file.path, start);
      if (start === file.size) return void res.end();
      fs.createReadStream(abs.get(file.path)!, { start }).on('error', () => res.destroy()).pipe(res);
    } catch (error) {
      send(500, error instanceof Error ? error.message : String(error));
    }
  }
}

async function buildManifest(hash: string, dir: string): Promise<{ manifest: Manifest; abs: Map<string, string> }> {
  const files: ManifestFile[] = [];
  const abs = new Map<string, string>();
  for (const f of listModelFiles(dir)) {
    const sha256 = await fileSha256(f.abs);
    files.push({ path: f.rel, size: f.size, sha256 });
    abs.set(f.rel, f.abs);
  }
  if (manifestHash(files) !== hash) throw new Error(`The model folder ${dir} changed since its job was submitted`);
  return { manifest: { hash, files }, abs };
}

/** The model content hash the library computes (app/library/model-hash.ts), from a manifest's lines. */
export function manifestHash(files: ManifestFile[]): string {
  const h = crypto.createHash('sha256');
  for (const f of files) h.update(`${f.path}\0${f.size}\0${f.sha256}\n`);
  return h.digest('hex');
}

export function fileSha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash('sha256');
    fs.createReadStream(file)
      .on('data', (chunk) => h.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** The token workers present, made once per studio home and kept private to its user. */
function modelToken(dir: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, TOKEN_FILE);
  try {
    const token = fs.readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9_-]{43}$/.test(token)) return token;
  } catch {
    // First start: made below.
  }
  const token = crypto.randomBytes(32).toString('base64url');
  fs.writeFileSync(file, token, { mode: 0o600 });
  return token;
}

function splitHostPort(listen: string): [string, string] {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(listen);
  if (!m) throw new Error(`Model endpoint address "${listen}" is not HOST:PORT`);
  return [m[1]!, m[2]!];
}
