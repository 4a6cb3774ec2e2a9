import type { GenerationRequest, ImageRef } from '../../../app/contract/index.js';

// What two generations started from, side by side (docs: issue 15, comparing two tree
// nodes): the init image, the mask, each control map and each region, as the library keeps
// them (images by hash), listed where they differ.

/** One input of one side: its image (a library hash) and what else it carries. */
export interface InputSide {
  sha256: string | null;
  detail: string;
}

export interface InputDiffRow {
  key: string;
  a: InputSide | null;
  b: InputSide | null;
}

type Inputs = Pick<GenerationRequest, 'init' | 'inpaint' | 'controls' | 'regions'>;

function hash(ref: ImageRef | undefined): string | null {
  return ref && 'sha256' in ref ? ref.sha256 : null;
}

function inputsOf(request: Partial<Inputs> | null): Map<string, InputSide> {
  const out = new Map<string, InputSide>();
  if (!request) return out;
  if (request.init) out.set('init image', { sha256: hash(request.init), detail: '' });
  if (request.inpaint) out.set('mask', { sha256: hash(request.inpaint.mask), detail: `blur ${request.inpaint.blur}${request.inpaint.onlyMasked ? ', only masked' : ''}` });
  (request.controls ?? []).forEach((c, i) => out.set(`control ${i + 1}`, { sha256: hash(c.image), detail: `${c.type} · ${c.weight} · ${c.start}–${c.end}` }));
  (request.regions ?? []).forEach((r, i) => out.set(`region ${i + 1}`, { sha256: hash(r.mask), detail: `“${r.prompt}” · ${r.weight}` }));
  return out;
}

const same = (a: InputSide | null, b: InputSide | null) => (a === null || b === null ? a === b : a.sha256 === b.sha256 && a.detail === b.detail);

/** The inputs that differ between two requests (absent on one side, other pixels, other settings). */
export function inputDiff(a: Partial<Inputs> | null, b: Partial<Inputs> | null): InputDiffRow[] {
  const left = inputsOf(a);
  const right = inputsOf(b);
  // In a fixed order, whichever side has an input: init, mask, the controls, the regions.
  const count = (request: Partial<Inputs> | null, list: 'controls' | 'regions') => request?.[list]?.length ?? 0;
  const keys = [
    'init image',
    'mask',
    ...Array.from({ length: Math.max(count(a, 'controls'), count(b, 'controls')) }, (_, i) => `control ${i + 1}`),
    ...Array.from({ length: Math.max(count(a, 'regions'), count(b, 'regions')) }, (_, i) => `region ${i + 1}`),
  ];
  return keys.map((key) => ({ key, a: left.get(key) ?? null, b: right.get(key) ?? null })).filter((row) => !same(row.a, row.b));
}
