import { type MaskLayer, setLayerImage, setLayerProperties } from '../state/doc-ops.js';
import { ensureMaskLayer, maskFromBox } from '../canvas/CanvasView.js';
import { inpaintMaskLayer, isRegionMask } from '../canvas/region-masks.js';
import { blankMask, cropToMask, invertMask, sourceUrl } from '../canvas/raster.js';
import { useStudio } from '../state/context.js';
import { type DocumentSession } from '../state/document.js';
import { errorMessage } from '../state/studio.js';
import { useDocument, useSelection } from '../state/useDocument.js';
import { RegionsPanel } from './RegionsPanel.js';

/** Mask actions: invert, clear, from region boxes, overlay visibility; the regions' prompts below. */
export function MaskPanel({ session }: { session: DocumentSession }) {
  const studio = useStudio();
  const doc = useDocument(session);
  const selection = useSelection(session);
  const selected = doc.layers.find((l) => l.id === selection[0]);
  // The mask the buttons act on: the selected one, else the inpaint mask (not a region mask).
  const mask = selected?.kind === 'mask' ? selected : (inpaintMaskLayer(doc) ?? [...doc.layers].reverse().find((l): l is MaskLayer => l.kind === 'mask' && !isRegionMask(l)));
  const croppable = selected && (selected.kind === 'paint' || selected.kind === 'reference' || selected.kind === 'generated') ? selected : undefined;
  const crop = async () => {
    if (!croppable || !mask) return;
    try {
      const src = sourceUrl(croppable.image, session.assets);
      const maskSrc = session.assets[mask.image.part];
      if (!src || !maskSrc) throw new Error('the layer or the mask has no pixels here');
      const ref = session.addAsset(await cropToMask(src, croppable, maskSrc, mask));
      session.history.change((d) => setLayerImage(d, croppable.id, ref), 'Crop layer to mask');
    } catch (error) {
      studio.toast('error', `Crop to mask: ${errorMessage(error)}`);
    }
  };
  const regions = doc.layers.flatMap((l) => (l.kind === 'shapes' && l.visible ? l.shapes.filter((s) => s.type === 'region') : []));
  const run = async (label: string, make: (layer: MaskLayer, src: string) => Promise<string>) => {
    const history = session.history;
    history.beginGesture(label);
    try {
      const layer = ensureMaskLayer(session);
      const src = session.assets[layer.image.part] ?? blankMask(layer.width, layer.height);
      const ref = session.addAsset(await make(layer, src));
      history.change((d) => setLayerImage(d, layer.id, ref));
    } catch (error) {
      studio.toast('error', `${label}: ${errorMessage(error)}`);
    } finally {
      history.endGesture();
    }
  };
  return (
    <>
      <section className="panel mask-panel" aria-label="Mask" data-testid="mask-panel">
        <header className="panel-head">
          <h2>Mask</h2>
          {mask && (
            <button
              type="button"
              data-testid="mask-overlay"
              aria-pressed={mask.visible}
              onClick={() => session.history.change((d) => setLayerProperties(d, mask.id, { visible: !mask.visible }), 'Toggle mask overlay')}
            >
              {mask.visible ? 'Hide overlay' : 'Show overlay'}
            </button>
          )}
        </header>
        <div className="row wrap">
          <button type="button" data-testid="mask-invert" onClick={() => void run('Invert mask', (layer, src) => invertMask(src, layer))}>
            Invert
          </button>
          <button type="button" data-testid="mask-clear" onClick={() => void run('Clear mask', (layer) => Promise.resolve(blankMask(layer.width, layer.height)))}>
            Clear
          </button>
          <button
            type="button"
            data-testid="mask-from-regions"
            disabled={regions.length === 0}
            title="Mask the area of every labelled region box"
            onClick={() => {
              void (async () => {
                session.history.beginGesture('Mask from regions');
                try {
                  for (const r of regions) if (r.type === 'region') await maskFromBox(session, r, studio.state.maskFeather);
                } catch (error) {
                  studio.toast('error', errorMessage(error));
                } finally {
                  session.history.endGesture();
                }
              })();
            }}
          >
            From regions
          </button>
          <button type="button" data-testid="mask-crop" disabled={!croppable || !mask} title="Keep the selected picture layer only where the mask is painted" onClick={() => void crop()}>
            Crop layer
          </button>
        </div>
        <p className="hint">{mask ? 'White areas are repainted when you refine a candidate.' : 'Paint with M to mark what a refinement may change.'}</p>
      </section>
      <RegionsPanel session={session} />
    </>
  );
}
