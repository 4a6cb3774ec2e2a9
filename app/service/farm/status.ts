import { Queue } from 'bullmq';
import { FARM_PREFIX, QUEUE_NAME, createRedis, parseQueueUrl } from './connection.js';
import { FarmProgress, WorkerAdvert } from './protocol.js';

// `atelier farm status` (docs/farm.md, "Watching the queue"): the workers that advertised in
// the last quarter minute, the queue's depth by state, and the jobs running now with their
// step — read from Redis, so it works from any machine that has the URL.

export interface FarmStatus {
  queue: string;
  counts: Record<string, number>;
  workers: WorkerAdvert[];
  running: Array<{ jobId: string; workerId?: string; device?: string; step?: number; totalSteps?: number; prompt: string; startedAt?: string }>;
}

export async function farmStatus(url: string): Promise<FarmStatus> {
  const target = parseQueueUrl(url);
  const queue = new Queue(QUEUE_NAME, { connection: target.redis });
  const redis = createRedis(target);
  try {
    const counts = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
    const workers: WorkerAdvert[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${FARM_PREFIX}:worker:*`, 'COUNT', 200);
      cursor = next;
      for (const key of keys) {
        const advert = WorkerAdvert.safeParse(safeJson(await redis.get(key)));
        if (advert.success) workers.push(advert.data);
      }
    } while (cursor !== '0');
    workers.sort((a, b) => a.id.localeCompare(b.id));
    const running = (await queue.getActive()).map((job) => {
      const progress = FarmProgress.safeParse(job.progress);
      const data = job.data as { request?: { prompt?: unknown } } | undefined;
      return {
        jobId: job.id ?? '',
        prompt: typeof data?.request?.prompt === 'string' ? data.request.prompt : '',
        ...(job.processedOn ? { startedAt: new Date(job.processedOn).toISOString() } : {}),
        ...(progress.success ? { workerId: progress.data.workerId, device: progress.data.device, step: progress.data.step, totalSteps: progress.data.totalSteps } : {}),
      };
    });
    return { queue: target.display, counts, workers, running };
  } finally {
    await queue.close();
    await redis.quit().catch(() => redis.disconnect()); // already gone is closed enough
  }
}

function safeJson(text: string | null): unknown {
  try {
    return text === null ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}
