// Seed policy of the prompt panel. The engine gives candidate k of a batch the seed
// `seed + k` (app/contract/generation.ts), so "increment" moves past the whole batch.

export type SeedPolicy = 'random' | 'fixed' | 'increment';

/** 2^32 − 1: the range A1111 and ComfyUI users know, well inside the contract's MAX_SEED. */
export const RANDOM_SEED_MAX = 0xffff_ffff;

export function randomSeed(random: () => number = Math.random): number {
  return Math.floor(random() * (RANDOM_SEED_MAX + 1));
}

/** The seed to send for the next generation, given the policy and the seed field. */
export function seedForRun(policy: SeedPolicy, field: number, random: () => number = Math.random): number {
  return policy === 'random' ? randomSeed(random) : field;
}

/** What the seed field shows after a run that used `used` for `batch` candidates. */
export function seedAfterRun(policy: SeedPolicy, used: number, batch: number): number {
  return policy === 'increment' ? used + batch : used;
}
