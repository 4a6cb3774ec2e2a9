import type { RedisOptions } from 'bullmq';
import { Redis, type RedisOptions as IoRedisOptions } from 'ioredis';
import { ApiError } from '../../contract/index.js';

// Where the farm's queue lives: a Redis URL (docs/farm.md, "Redis"). The queue is the farm's
// trust boundary — whoever can write to it can make workers run jobs and read the model
// endpoint's token — so an open Redis is refused: the URL must carry a password (an ACL user
// and password, or `requirepass`'s password with an empty user). `rediss://` turns TLS on.

/** The BullMQ queue every studio submits to and every worker takes from. */
export const QUEUE_NAME = 'atelier-generate';
/** Key prefix of the farm's own keys (worker adverts, the cancel channel) beside BullMQ's `bull:` keys. */
export const FARM_PREFIX = 'atelier:farm';
export const CANCEL_CHANNEL = `${FARM_PREFIX}:cancel`;
export const workerKey = (id: string): string => `${FARM_PREFIX}:worker:${id}`;

export interface QueueTarget {
  /** ioredis options (BullMQ builds its connections from them). */
  redis: RedisOptions;
  /** The URL without its password, for logs and `atelier farm status`. */
  display: string;
}

/** Parses `redis://[user]:password@host:port[/db]` or `rediss://…`; refuses anything else, and a URL without a password. */
export function parseQueueUrl(url: string): QueueTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ApiError('bad_request', `The queue URL "${url.replace(/:[^:@/]*@/, ':***@')}" is not a URL; expected redis://:PASSWORD@HOST:PORT`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new ApiError('bad_request', `The queue URL must start with redis:// or rediss://, not ${parsed.protocol}//`);
  }
  const password = decodeURIComponent(parsed.password);
  if (!password) {
    throw new ApiError('bad_request', 'The queue URL has no password: the farm refuses an open Redis (set requirepass or an ACL user; docs/farm.md)');
  }
  const dbText = parsed.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || db > 15) throw new ApiError('bad_request', `The queue URL's database "${dbText}" is not 0–15`);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const port = parsed.port ? Number(parsed.port) : 6379;
  const tls = parsed.protocol === 'rediss:';
  const redis: RedisOptions = {
    host,
    port,
    password,
    db,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    // Node's default TLS checks (certificate chain, host name) apply; NODE_EXTRA_CA_CERTS adds a private CA.
    ...(tls ? { tls: { servername: host } } : {}),
    // BullMQ's workers block on Redis; it asks for these two (docs.bullmq.io, "Connections").
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
  };
  const user = parsed.username ? `${decodeURIComponent(parsed.username)}:***@` : ':***@';
  return { redis, display: `${parsed.protocol}//${user}${parsed.host}/${db}` };
}


/** A plain Redis connection of the farm's own (adverts, cancel messages), beside BullMQ's. */
export function createRedis(target: QueueTarget): Redis {
  return new Redis(target.redis as IoRedisOptions);
}

/**
 * Refuses a Redis that answers without a password: ioredis only warns when a password is sent
 * to a server that wants none, so a password in the URL alone does not prove the queue is
 * closed to others. A connection without credentials must be told NOAUTH.
 */
export async function assertProtected(target: QueueTarget): Promise<void> {
  const { host, port, db, tls } = target.redis as IoRedisOptions;
  const probe = new Redis({ host, port, db, ...(tls ? { tls } : {}), lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  // ioredis 6 greets with HELLO: a protected server's NOAUTH arrives as an error event, and the
  // connection closes before any command.
  let refusal = '';
  probe.on('error', (e: Error) => (refusal = e.message));
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    if (/NOAUTH|WRONGPASS|NOPERM/i.test(`${error instanceof Error ? error.message : String(error)} ${refusal}`)) return;
    throw new ApiError('engine_failed', `The farm's Redis at ${target.display} does not answer: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    probe.disconnect();
  }
  throw new ApiError('bad_request', `The Redis at ${target.display} answers without a password: the farm refuses an open Redis (set requirepass or an ACL user; docs/farm.md)`);
}
