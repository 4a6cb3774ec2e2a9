import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { GenerationSteps } from '../generation-handlers.js';
import type { DecodedInputs } from '../generation-images.js';
import type { JobBackend } from '../jobs.js';
import { parseQueueUrl } from './connection.js';
import { ModelServer } from './model-server.js';
import { FarmJobs } from './studio-backend.js';

// The render farm (docs/farm.md): generation jobs on a shared Redis queue (BullMQ), run by
// `atelier worker` processes on any machine. createStudio plugs the studio's side in as the
// generation area's job back-end when a queue URL is given; without one nothing here runs.

export { FarmJobs, PRIORITY_BATCH, PRIORITY_INTERACTIVE } from './studio-backend.js';
export { FarmWorker, type FarmWorkerOptions } from './worker.js';
export { farmStatus, type FarmStatus } from './status.js';
export { parseQueueUrl } from './connection.js';

export interface FarmOptions {
  /** redis://:PASSWORD@HOST:PORT (or rediss://). */
  url: string;
  home: string;
  /**
   * HOST:PORT where this studio serves its models to workers that lack them (ATELIER_FARM_MODELS);
   * undefined: it serves none, and jobs run only on workers started with the model (`--model`).
   */
  modelsListen?: string;
  /** The URL workers reach that endpoint at, when not http://HOST:PORT (ATELIER_FARM_MODELS_URL). */
  modelsUrl?: string;
}

/** The "farm" entry of <home>/settings.json (docs/farm.md, "The studio"); a malformed one counts as none. */
const FarmSettings = z.object({ queue: z.string().optional(), models: z.string().optional(), modelsUrl: z.string().optional() });

function farmSettings(home: string): z.infer<typeof FarmSettings> {
  try {
    const settings = JSON.parse(fs.readFileSync(path.join(home, 'settings.json'), 'utf8')) as { farm?: unknown };
    return FarmSettings.safeParse(settings.farm).data ?? {};
  } catch {
    return {}; // no settings file (or not JSON: the model registry reports that one)
  }
}

const nonEmpty = (value: string | undefined): string | undefined => (value && value.trim() !== '' ? value.trim() : undefined);

/** The queue URL: the door's own option, else ATELIER_QUEUE, else settings.json's farm.queue; undefined: the embedded queue. */
export function resolveQueueUrl(explicit: string | undefined, home: string): string | undefined {
  return nonEmpty(explicit) ?? nonEmpty(process.env.ATELIER_QUEUE) ?? nonEmpty(farmSettings(home).queue);
}

/** The farm's options for a studio: the environment first, then settings.json's "farm" entry. */
export function farmOptionsFromEnv(url: string, home: string): FarmOptions {
  const settings = farmSettings(home);
  const listen = nonEmpty(process.env.ATELIER_FARM_MODELS) ?? nonEmpty(settings.models);
  const publicUrl = nonEmpty(process.env.ATELIER_FARM_MODELS_URL) ?? nonEmpty(settings.modelsUrl);
  return { url, home, ...(listen ? { modelsListen: listen } : {}), ...(publicUrl ? { modelsUrl: publicUrl } : {}) };
}

/** The generation area's back-end for a farm; refuses a bad or password-less URL at once. */
export function farmBackend(options: FarmOptions): (steps: GenerationSteps) => JobBackend<DecodedInputs> {
  parseQueueUrl(options.url);
  return (steps) => {
    const models = options.modelsListen ? new ModelServer({ dir: path.join(options.home, 'farm'), listen: options.modelsListen, ...(options.modelsUrl ? { publicUrl: options.modelsUrl } : {}) }) : undefined;
    return new FarmJobs({ url: options.url, home: options.home, steps, ...(models ? { models } : {}) });
  };
}
