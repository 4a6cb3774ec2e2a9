// `importModel` with the seconds spent in each of its progress stages, for bench:models and
// bench:models -- --sdxl (each runs it in a child process, for that process's peak RSS).

import type { ModelImportResult } from '../app/service/model-import.js';

export interface TimedImport {
  imported: ModelImportResult['imported'];
  /** Seconds per stage, `start` being what came before the first progress report. */
  stages: Record<string, number>;
  /** Seconds after the last progress report (the service's check that the engine opens the folder). */
  after: number;
  total: number;
}

export async function timedImport(source: string, home: string, name: string): Promise<TimedImport> {
  // loaded here, so that a bench's parent process does not load the service
  const { importModel: run } = await import('../app/service/model-import.js');
  const stages: Record<string, number> = {};
  let [stage, last] = ['start', performance.now()];
  const t0 = last;
  const { imported } = await run({
    home,
    source,
    name,
    onProgress: (p) => {
      if (p.stage === stage) return;
      const now = performance.now();
      stages[stage] = (now - last) / 1000;
      [stage, last] = [p.stage, now];
    },
  });
  const end = performance.now();
  return { imported, stages, after: (end - last) / 1000, total: (end - t0) / 1000 };
}
