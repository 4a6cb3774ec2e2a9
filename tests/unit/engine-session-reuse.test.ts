import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GenerationRequest } from '../../app/contract/index.js';
import { loadModel, runPipeline } from '../../app/engine/index.js';

// One session per graph serves every candidate and every run of a loaded model
// (docs/engine.md, "Session set-up"): no session is created after loadModel.

afterEach(() => {
  vi.restoreAllMocks();
});

describe('session reuse', () => {
  it('runs two batches of two candidates without creating another session', async () => {
    const model = await loadModel(path.resolve('tests/fixtures/models/sd1-tiny'), { device: 'cpu' });
    const create = vi.spyOn(ort.InferenceSession, 'create');
    try {
      const request = GenerationRequest.parse({ model: 'sd1-tiny', prompt: 'a red house', seed: 7, steps: 2, batch: 2, width: 64, height: 64 });
      const first = await runPipeline(model, request, {});
      const second = await runPipeline(model, { ...request, seed: 8 }, {});
      expect(first.candidates.length).toBe(2);
      expect(second.candidates.length).toBe(2);
      expect(create).not.toHaveBeenCalled();
    } finally {
      await model.release();
    }
  });
});
