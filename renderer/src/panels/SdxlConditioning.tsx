import type { GenerationSettings } from '../state/settings.js';
import { useStudio, useUi } from '../state/context.js';

// SDXL's micro-conditioning in the prompt panel's advanced settings (docs/engine.md, "SDXL"):
// what the UNet is told about the picture — the size it "was" before any resize (a small one
// looks upscaled and soft, a large one sharp), the pixels cropped off its top and left (0, 0
// centres the subject), the size it is meant for — and, with a refiner, the aesthetic scores
// the refiner is conditioned on. An empty field is diffusers' default: the output size, crop
// (0, 0), scores 6 and 2.5. Shown for SDXL models only (another family refuses them).

type Conditioning = NonNullable<GenerationSettings['sdxlConditioning']>;

/** A whole number in [min, max] from a field's text, or undefined for empty or anything else. */
function whole(text: string, min: number, max: number): number | undefined {
  if (text.trim() === '') return undefined;
  const n = Number(text);
  return Number.isInteger(n) && n >= min && n <= max ? n : undefined;
}

/** `c` with `key` set to `value`, or without it; undefined when nothing is left. */
function withField<K extends keyof Conditioning>(c: Conditioning | undefined, key: K, value: Conditioning[K] | undefined): Conditioning | undefined {
  const next: Conditioning = { ...c };
  if (value === undefined) delete next[key];
  else next[key] = value;
  return Object.keys(next).length > 0 ? next : undefined;
}

function SizeFields({ label, testId, size, output, onChange }: { label: string; testId: string; size: { width: number; height: number } | undefined; output: { width: number; height: number }; onChange: (size: { width: number; height: number } | undefined) => void }) {
  // Both sides or neither: one typed alone takes the output's other side; clearing one clears the size.
  const set = (side: 'width' | 'height', text: string) => {
    if (text.trim() === '') return onChange(undefined);
    const n = whole(text, 1, 16_384);
    if (n !== undefined) onChange({ ...(size ?? output), [side]: n });
  };
  return (
    <div className="row">
      <label className="field">
        <span className="label">{label} W</span>
        <input data-testid={`${testId}-width`} inputMode="numeric" placeholder={String(output.width)} value={size?.width ?? ''} onChange={(e) => set('width', e.target.value)} />
      </label>
      <label className="field">
        <span className="label">H</span>
        <input data-testid={`${testId}-height`} inputMode="numeric" placeholder={String(output.height)} value={size?.height ?? ''} onChange={(e) => set('height', e.target.value)} />
      </label>
    </div>
  );
}

export function SdxlConditioningSettings() {
  const studio = useStudio();
  const settings = useUi((s) => s.settings);
  const models = useUi((s) => s.models);
  const model = models.find((m) => m.id === settings.model);
  if (model?.info?.family !== 'sdxl') return null;
  const c = settings.sdxlConditioning;
  const output = { width: settings.width, height: settings.height };
  const set = <K extends keyof Conditioning>(key: K, value: Conditioning[K] | undefined) => studio.updateSettings({ sdxlConditioning: withField(c, key, value) });
  const score = (key: 'aestheticScore' | 'negativeAestheticScore', text: string) => {
    if (text.trim() === '') return set(key, undefined);
    const n = Number(text);
    if (Number.isFinite(n) && n >= 0 && n <= 10) set(key, n);
  };
  return (
    <details className="sub" open={c !== undefined} data-testid="sdxl-conditioning">
      <summary>SDXL conditioning{c ? ' (set)' : ''}</summary>
      <SizeFields label="Original size" testId="sdxl-original" size={c?.originalSize} output={output} onChange={(v) => set('originalSize', v)} />
      <div className="row">
        <label className="field">
          <span className="label">Crop top</span>
          <input data-testid="sdxl-crop-top" inputMode="numeric" placeholder="0" value={c?.crop?.top ?? ''} onChange={(e) => set('crop', cropWith(c?.crop, 'top', e.target.value))} />
        </label>
        <label className="field">
          <span className="label">Crop left</span>
          <input data-testid="sdxl-crop-left" inputMode="numeric" placeholder="0" value={c?.crop?.left ?? ''} onChange={(e) => set('crop', cropWith(c?.crop, 'left', e.target.value))} />
        </label>
      </div>
      <SizeFields label="Target size" testId="sdxl-target" size={c?.targetSize} output={output} onChange={(v) => set('targetSize', v)} />
      {settings.refiner && (
        <div className="row">
          <label className="field">
            <span className="label">Aesthetic score</span>
            <input data-testid="sdxl-aesthetic" inputMode="decimal" placeholder="6" value={c?.aestheticScore ?? ''} onChange={(e) => score('aestheticScore', e.target.value)} />
          </label>
          <label className="field">
            <span className="label">Negative</span>
            <input data-testid="sdxl-negative-aesthetic" inputMode="decimal" placeholder="2.5" value={c?.negativeAestheticScore ?? ''} onChange={(e) => score('negativeAestheticScore', e.target.value)} />
          </label>
        </div>
      )}
      <div className="row">
        <p className="hint">Empty: the output size, no crop{settings.refiner ? ', scores 6 and 2.5' : ''}. A small original size reads as an upscaled, softer picture; a crop as a cropped photo.</p>
        <button type="button" data-testid="sdxl-conditioning-reset" disabled={!c} onClick={() => studio.updateSettings({ sdxlConditioning: undefined })}>
          Reset
        </button>
      </div>
    </details>
  );
}

/** The crop with one side typed (the other 0 when unset); undefined when both are cleared. */
function cropWith(crop: Conditioning['crop'], side: 'top' | 'left', text: string): Conditioning['crop'] {
  const n = whole(text, 0, 16_384);
  if (n === undefined) {
    if (text.trim() !== '') return crop;
    const other = side === 'top' ? crop?.left : crop?.top;
    return other ? { top: side === 'top' ? 0 : other, left: side === 'left' ? 0 : other } : undefined;
  }
  return { top: crop?.top ?? 0, left: crop?.left ?? 0, [side]: n };
}
