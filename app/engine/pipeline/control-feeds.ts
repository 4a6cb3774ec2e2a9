import { floatTensor, type ort } from '../model/session.js';
import type { ActiveControl } from './steps.js';
import { concatBatch } from './tensor.js';

// What a ControlNet is fed for its conditioning image. A ControlNet split in two
// (model/controlnet-hint.ts) gets its hint part's results, computed once per run and batch
// size (the image does not change between steps), in place of the image itself.

const hints = new WeakMap<ActiveControl, Map<number, Promise<Record<string, ort.Tensor>>>>();

/** controlnet_cond at `batch` (the same image for every batch entry), or the hint tensors computed from it. */
export function conditioningFeeds(c: ActiveControl, batch: number, size: { width: number; height: number }): Promise<Record<string, ort.Tensor>> {
  const L = c.net.layout;
  const image = () => floatTensor(batch === 1 ? c.cond : concatBatch(Array.from({ length: batch }, () => c.cond)), [batch, 3, size.height, size.width], L.condType);
  const hint = c.net.hint;
  if (!hint) return Promise.resolve({ [L.condName]: image() });
  let perBatch = hints.get(c);
  if (!perBatch) hints.set(c, (perBatch = new Map()));
  let feeds = perBatch.get(batch);
  if (!feeds) {
    feeds = hint.session.run({ [L.condName]: image() }).then((out) => Object.fromEntries(hint.outputs.map((name) => [name, out[name]!])));
    const cache = perBatch;
    cache.set(batch, feeds);
    feeds.catch(() => cache.delete(batch));
  }
  return feeds;
}
