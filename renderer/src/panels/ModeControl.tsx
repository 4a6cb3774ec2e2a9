import { useEffect, useState } from 'react';
import { generationMode, useGenerationMode } from '../canvas/mode.js';
import { frameOutside } from '../canvas/outpaint.js';
import { maskIsEmpty, sourceUrl } from '../canvas/raster.js';
import { inpaintMaskLayer } from '../canvas/region-masks.js';
import { MODE_LABELS, type ModeChoice, frameHasPicture, resolveMode } from '../canvas/sources.js';
import { useStudio, useUi } from '../state/context.js';
import { type DocumentSession } from '../state/document.js';
import { useDocument } from '../state/useDocument.js';

const SHORT: Record<ReturnType<typeof resolveMode>, string> = { sketch: 'from sketch', canvas: 'from canvas', inpaint: 'fill mask', extend: 'extend' };

/**
 * Whether the inpaint mask (the topmost visible mask that is not a region mask) has anything
 * painted (checked when its pixels change).
 */
function useMaskPainted(session: DocumentSession): boolean {
  const doc = useDocument(session);
  const mask = inpaintMaskLayer(doc);
  const src = mask ? sourceUrl(mask.image, session.assets) : undefined;
  const [checked, setChecked] = useState<{ src: string; painted: boolean } | null>(null);
  const width = mask?.width ?? 0;
  const height = mask?.height ?? 0;
  useEffect(() => {
    if (!src) return;
    let live = true;
    maskIsEmpty(src, { width, height }).then(
      (empty) => live && setChecked({ src, painted: !empty }),
      // An unreadable mask shows as unpainted here; Generate renders it and reports the error.
      () => live && setChecked({ src, painted: false }),
    );
    return () => {
      live = false;
    };
  }, [src, width, height]);
  return src !== undefined && checked?.src === src && checked.painted;
}

/**
 * What Generate does with the canvas: from the sketch, from the canvas (with strength), fill
 * the mask — or automatically, showing what the automatic choice is now.
 */
export function ModeControl({ session }: { session: DocumentSession }) {
  const studio = useStudio();
  const choice = useGenerationMode();
  const doc = useDocument(session);
  const frame = useUi((s) => s.frame);
  const width = useUi((s) => s.settings.width);
  const height = useUi((s) => s.settings.height);
  const strength = useUi((s) => s.settings.strength);
  const mask = useMaskPainted(session);
  const box = { ...frame, width, height };
  const resolved = resolveMode(choice, { picture: frameHasPicture(doc, box), mask, outside: frameOutside(doc, box) });
  return (
    <div className="mode-control" data-testid="mode-control" data-mode={resolved}>
      <label className="field">
        <span className="label">Generate</span>
        <select data-testid="generation-mode" value={choice} title={MODE_LABELS[choice].title} onChange={(e) => generationMode.set({ choice: e.target.value as ModeChoice })}>
          {(Object.keys(MODE_LABELS) as ModeChoice[]).map((m) => (
            <option key={m} value={m} title={MODE_LABELS[m].title}>
              {m === 'auto' ? `Auto: ${SHORT[resolved]}` : MODE_LABELS[m].label}
            </option>
          ))}
        </select>
      </label>
      <label className="field" title="From canvas and Refine: how much may change (0 keeps the picture, 1 ignores it)">
        <span className="label">Strength {strength.toFixed(2)}</span>
        <input type="range" data-testid="strength" min={0} max={1} step={0.01} value={strength} onChange={(e) => studio.updateSettings({ strength: e.target.valueAsNumber })} />
      </label>
    </div>
  );
}
