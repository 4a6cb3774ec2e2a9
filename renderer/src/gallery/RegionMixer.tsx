import { useStudio, useUi } from '../state/context.js';
import { type DocumentSession } from '../state/document.js';
import { chooseForRegion, cycleRegion, regionBoxes, regionLayer } from '../state/mixing.js';
import { useDocument } from '../state/useDocument.js';

/**
 * Per-region candidate mixing (docs: issue 15): one row per region box — a click on a
 * candidate makes it the region's winner (a layer over the box, linked to the candidate); ⟳
 * cycles the region through the batch in place.
 */
export function RegionMixer({ session }: { session: DocumentSession }) {
  const studio = useStudio();
  const doc = useDocument(session);
  const staging = useUi((s) => s.staging);
  const regions = regionBoxes(doc);
  if (staging.length === 0 || regions.length === 0) return null;
  return (
    <section className="region-mixer" aria-label="Mix candidates by region" data-testid="region-mixer">
      <h3>Mix by region</h3>
      {regions.map((region) => {
        const winner = regionLayer(doc, region)?.candidateId;
        return (
          <div key={region.id} className="row" data-testid="mixer-region" data-label={region.label} data-candidate-id={winner ?? ''}>
            <span className="mixer-label">{region.label || 'unlabelled'}</span>
            {staging.map((c) => (
              <button
                key={c.id}
                type="button"
                className={c.id === winner ? 'comparing' : ''}
                aria-pressed={c.id === winner}
                data-testid="mixer-pick"
                data-candidate-id={c.id}
                title={`Seed ${c.seed} for “${region.label}”`}
                onClick={() => void chooseForRegion(studio, session, region, c)}
              >
                <img src={c.url} alt={`Seed ${c.seed}`} />
              </button>
            ))}
            <button type="button" data-testid="mixer-cycle" title="Next candidate here" onClick={() => void cycleRegion(studio, session, region, staging)}>
              ⟳
            </button>
          </div>
        );
      })}
    </section>
  );
}
