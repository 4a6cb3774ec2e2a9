import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

// Web mode's port and token, kept in the data folder between runs (docs: issue 15): a studio
// started again after a crash or a restart listens where the open tab expects it, with the
// token the tab's cookie holds, so the page reconnects by itself. The file is the user's
// own (mode 0600), beside the library it already guards.

export interface WebSession {
  port: number;
  token: string;
}

const FILE = 'web-session.json';

/** The saved session, or null when there is none or it is not one (then a fresh one is made). */
export function readWebSession(home: string): WebSession | null {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(path.join(home, FILE), 'utf8'));
  } catch {
    // No file yet, or one cut short by a crash: a new session replaces it.
    return null;
  }
  const s = raw as Partial<WebSession> | null;
  if (!s || !Number.isInteger(s.port) || s.port! < 1 || s.port! > 65535 || typeof s.token !== 'string' || !/^[A-Za-z0-9_-]{32,}$/.test(s.token)) return null;
  return { port: s.port!, token: s.token };
}

/** Written atomically (temp file, rename), readable by the user only. */
export function writeWebSession(home: string, session: WebSession): void {
  fs.mkdirSync(home, { recursive: true });
  const target = path.join(home, FILE);
  const temp = `${target}.${process.pid}.tmp`;
  fs.writeFileSync(temp, JSON.stringify(session), { mode: 0o600 });
  fs.renameSync(temp, target);
}

export function newToken(): string {
  return crypto.randomBytes(24).toString('base64url');
}

/** True for the error a listen on a taken port fails with. */
export function isAddressInUse(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'EADDRINUSE';
}
