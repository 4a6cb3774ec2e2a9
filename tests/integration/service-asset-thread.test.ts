import { afterAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../app/contract/index.js';
import { runAssetTask, stopAssetThread } from '../../app/service/asset-tasks.js';

// The asset thread (app/service/asset-tasks.ts): errors come back as the engine's ApiError,
// answers find their own task when several wait, and a stopped thread is replaced.

afterAll(stopAssetThread);

const vaeTask = (base: string) => ({ kind: 'vae' as const, base, vae: '/nowhere/vae.safetensors', sha256: '0'.repeat(64), cacheRoot: '/nowhere/cache' });

async function failure(base: string): Promise<ApiError> {
  return runAssetTask(vaeTask(base)).then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as ApiError,
  );
}

describe('asset thread', () => {
  it('returns the engine\'s typed errors, each to its own task, and keeps serving after them', async () => {
    const [a, b] = await Promise.all([failure('/nowhere/model-a'), failure('/nowhere/model-b')]);
    expect(a).toBeInstanceOf(ApiError);
    expect(a.code).toBe('invalid_model');
    expect(a.message).toMatch(/^model-a has no vae_decoder\/model\.onnx/);
    expect(b.message).toMatch(/^model-b has no vae_decoder/);
    expect((await failure('/nowhere/model-c')).message).toMatch(/^model-c /);
  });

  it('starts a new thread after the last one stopped', async () => {
    await stopAssetThread();
    expect((await failure('/nowhere/model-d')).code).toBe('invalid_model');
  });
});
