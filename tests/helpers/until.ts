/**
 * Waiting in tests: on a condition, never on a fixed time. A fixed sleep is either too short
 * on a loaded machine (the test fails for no fault of the code) or too long everywhere else;
 * before a negative check ("nothing happened") it proves nothing, because the thing that
 * should not happen may simply not have happened *yet*. Wait instead until something shows
 * that the system has done its work (an answer arrived, an event was seen, a frame was drawn),
 * then check.
 */

export interface UntilOptions {
  /** Give up after this many milliseconds (default 10 000, as the e2e polls). */
  timeout?: number;
  /** What is awaited, for the error message. */
  what?: string;
  /** The most milliseconds between two checks; checks start 5 ms apart and back off to it. */
  interval?: number;
}

/** A condition that did not hold before its deadline. */
export class UntilTimeoutError extends Error {
  override readonly name = 'UntilTimeoutError';
}

type Falsy = false | 0 | 0n | '' | null | undefined;

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    // A value JSON cannot write (a cycle, a BigInt) is still worth naming in the message.
    return String(value);
  }
}

/**
 * Checks `condition` until it returns (or resolves to) a truthy value, and resolves with that
 * value. A check that throws counts as "not yet" (the last error is named if time runs out),
 * so a condition may read something that does not exist at first. Rejects with an
 * UntilTimeoutError once `timeout` ms have passed without the condition holding; a check
 * still running at the deadline is awaited first (and wins if it holds).
 *
 * @example
 * await until(() => events.find((e) => e.type === 'job.completed'), { what: 'the job to complete' });
 */
export async function until<T>(condition: () => T | Promise<T>, options: UntilOptions | string = {}): Promise<Exclude<T, Falsy>> {
  const { timeout = 10_000, what = 'a condition', interval = 100 } = typeof options === 'string' ? { what: options } : options;
  const deadline = Date.now() + timeout;
  let pause = Math.min(5, interval);
  let last: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as Exclude<T, Falsy>;
      last = value;
    } catch (error) {
      last = error;
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new UntilTimeoutError(`Timed out after ${timeout} ms waiting for ${what}; last seen: ${describe(last)}`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
    pause = Math.min(pause * 2, interval);
  }
}
