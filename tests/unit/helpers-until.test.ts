import { describe, expect, it } from 'vitest';
import { UntilTimeoutError, until } from '../helpers/until.js';

// The tests' own waiting helper: it must return as soon as the condition holds, keep trying
// through "not yet" (falsy or thrown), and fail with a message once the deadline passes.
describe('until', () => {
  it('resolves with the first truthy value, after as many checks as it takes', async () => {
    let checks = 0;
    const value = await until(() => (++checks >= 3 ? { checks } : undefined));
    expect(value).toEqual({ checks: 3 });
    expect(checks).toBe(3);
  });

  it('awaits an async condition and treats a throw as "not yet"', async () => {
    let checks = 0;
    const value = await until(async () => {
      checks++;
      if (checks < 3) throw new Error('not there yet');
      return 'there';
    });
    expect(value).toBe('there');
  });

  it('answers at once when the condition already holds', async () => {
    const started = performance.now();
    expect(await until(() => 42, { timeout: 5_000 })).toBe(42);
    // No first pause: a held condition is not a reason to wait.
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('fails after its deadline, naming what it waited for and the last value seen', async () => {
    const started = performance.now();
    await expect(until(() => 0, { timeout: 50, what: 'the answer' })).rejects.toThrow(UntilTimeoutError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    await expect(until(() => null, { timeout: 20, what: 'the answer' })).rejects.toThrow('Timed out after 20 ms waiting for the answer; last seen: null');
    await expect(
      until(() => {
        throw new Error('missing file');
      }, { timeout: 30, what: 'the file' }),
    ).rejects.toThrow(/waiting for the file; last seen: Error: missing file/);
  });
});
