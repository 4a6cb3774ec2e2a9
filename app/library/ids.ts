import { randomBytes } from 'node:crypto';

// Sortable ids: a ULID (https://github.com/ulid/spec) — 48-bit milliseconds then 80 random
// bits, Crockford base32 — behind a kind prefix ("g_" generation, "c_" candidate) so an id
// read in a terminal says what it names. Within one millisecond the random part is
// incremented, so ids made by one process sort in creation order.

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let lastTime = -1;
let lastRandom: number[] = [];

function encodeTime(ms: number): string {
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

function nextRandom(now: number): number[] {
  if (now === lastTime) {
    // Increment the 80-bit random part (16 base32 digits) by one.
    const next = [...lastRandom];
    for (let i = next.length - 1; i >= 0; i--) {
      if (next[i]! < 31) {
        next[i]! += 1;
        break;
      }
      next[i] = 0;
    }
    lastRandom = next;
  } else {
    const bytes = randomBytes(16);
    lastRandom = Array.from(bytes, (b) => b & 31);
    lastRandom[0] = lastRandom[0]! & 15; // leave room to increment without overflow
    lastTime = now;
  }
  return lastRandom;
}

export function ulid(now: number = Date.now()): string {
  return encodeTime(now) + nextRandom(now).map((d) => ALPHABET[d]).join('');
}

export type IdKind = 'generation' | 'candidate';
const PREFIX: Record<IdKind, string> = { generation: 'g_', candidate: 'c_' };

export function newId(kind: IdKind, now?: number): string {
  return PREFIX[kind] + ulid(now);
}

export function kindOfId(id: string): IdKind | undefined {
  if (id.startsWith('g_')) return 'generation';
  if (id.startsWith('c_')) return 'candidate';
  return undefined;
}
