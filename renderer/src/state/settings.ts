import { GenerationSettings } from '../../../app/contract/projects.js';

// The prompt panel edits the document's own generation settings (app/contract/projects.ts):
// one shape for the panel, the document and, through requestFromSettings, the request. No
// mapping between them is written by hand here.
export { GenerationSettings };
export { requestFromSettings, settingsFromRequest } from '../../../app/projects/document/index.js';

/** What a fresh panel shows: a batch of four to choose from, a gentle refine strength. */
export const defaultSettings: GenerationSettings = GenerationSettings.parse({
  model: 'starter',
  sampler: 'euler_a',
  steps: 20,
  cfg: 7,
  seed: 1,
  seedPolicy: 'random',
  width: 512,
  height: 512,
  batch: 4,
  strength: 0.6,
  maskBlur: 4,
  onlyMasked: false,
  maskPadding: 32,
});

/** Parameters that differ between two requests, for the compare view. */
export function parameterDiff(a: Record<string, unknown>, b: Record<string, unknown>): Array<{ key: string; a: string; b: string }> {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !['init', 'inpaint', 'controls'].includes(k)).sort();
  const show = (v: unknown) => (v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));
  return keys.filter((k) => show(a[k]) !== show(b[k])).map((k) => ({ key: k, a: show(a[k]), b: show(b[k]) }));
}
