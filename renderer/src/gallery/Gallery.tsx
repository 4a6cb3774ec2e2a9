import { useState } from 'react';
import { parameterDiff } from '../state/settings.js';
import { useStudio, useUi } from '../state/context.js';
import { type StagedCandidate } from '../state/studio.js';

interface Props {
  onFavourite: (c: StagedCandidate) => void;
  onAccept: (c: StagedCandidate) => void;
  onRefine: (c: StagedCandidate) => void;
  onVariations: (c: StagedCandidate) => void;
}

/** The current generation's candidates: pick, compare, accept, refine, vary. */
export function Gallery({ onFavourite, onAccept, onRefine, onVariations }: Props) {
  const studio = useStudio();
  const staging = useUi((s) => s.staging);
  const favourites = useUi((s) => s.favourites);
  const compare = useUi((s) => s.compare);
  if (staging.length === 0) return null;
  const pair = compare.map((id) => staging.find((c) => c.id === id)).filter((c): c is StagedCandidate => Boolean(c));
  return (
    <section className="gallery" aria-label="Candidates" data-testid="gallery">
      <ul className="strip">
        {staging.map((c) => (
          <li key={c.id} className={`candidate${compare.includes(c.id) ? ' comparing' : ''}`} data-testid="candidate" data-seed={c.seed} data-candidate-id={c.id}>
            <img src={c.url} alt={`Candidate seed ${c.seed}`} width={c.width} height={c.height} />
            <div className="candidate-actions">
              <button type="button" aria-pressed={favourites.has(c.id)} aria-label="Favourite" data-testid="favourite" onClick={() => onFavourite(c)}>
                {favourites.has(c.id) ? '★' : '☆'}
              </button>
              <button type="button" aria-pressed={compare.includes(c.id)} data-testid="compare" onClick={() => studio.toggleCompare(c.id)}>
                Compare
              </button>
              <button type="button" data-testid="accept" onClick={() => onAccept(c)}>
                Accept
              </button>
              <button type="button" data-testid="refine" onClick={() => onRefine(c)} title="img2img, or inpaint with the current mask">
                Refine
              </button>
              <button type="button" data-testid="variations" onClick={() => onVariations(c)}>
                Variations
              </button>
              <button
                type="button"
                data-testid="copy-seed"
                title="Copy seed"
                onClick={() => {
                  // The clipboard may be refused (no permission, insecure page): the seed still goes into the settings below.
                  void navigator.clipboard?.writeText(String(c.seed)).catch(() => undefined);
                  studio.updateSettings({ seed: c.seed, seedPolicy: 'fixed' });
                  studio.toast('info', `Seed ${c.seed} copied`);
                }}
              >
                #{c.seed}
              </button>
              <button type="button" aria-label="Discard" data-testid="discard" onClick={() => studio.discard(c.id)}>
                ×
              </button>
            </div>
          </li>
        ))}
      </ul>
      {pair.length === 2 && pair[0] && pair[1] && <Compare a={pair[0]} b={pair[1]} onClose={() => studio.store.set({ compare: [] })} />}
    </section>
  );
}

function Compare({ a, b, onClose }: { a: StagedCandidate; b: StagedCandidate; onClose: () => void }) {
  const [mode, setMode] = useState<'side' | 'slider'>('side');
  const [split, setSplit] = useState(50);
  const diff = parameterDiff(a.request as Record<string, unknown>, b.request as Record<string, unknown>);
  return (
    <div className="compare" role="dialog" aria-label="Compare candidates" data-testid="compare-view">
      <div className="row">
        <button type="button" aria-pressed={mode === 'side'} onClick={() => setMode('side')}>
          Side by side
        </button>
        <button type="button" aria-pressed={mode === 'slider'} onClick={() => setMode('slider')} data-testid="compare-slider-mode">
          Slider
        </button>
        <button type="button" onClick={onClose} aria-label="Close compare">
          ×
        </button>
      </div>
      {mode === 'side' ? (
        <div className="side">
          <img src={a.url} alt={`Seed ${a.seed}`} />
          <img src={b.url} alt={`Seed ${b.seed}`} />
        </div>
      ) : (
        <div className="slider-view">
          <img src={b.url} alt={`Seed ${b.seed}`} />
          <img src={a.url} alt={`Seed ${a.seed}`} className="over" style={{ clipPath: `inset(0 ${100 - split}% 0 0)` }} />
          <input type="range" min={0} max={100} value={split} aria-label="Split" onChange={(e) => setSplit(e.target.valueAsNumber)} />
        </div>
      )}
      <table className="diff" data-testid="param-diff">
        <thead>
          <tr>
            <th>parameter</th>
            <th>left</th>
            <th>right</th>
          </tr>
        </thead>
        <tbody>
          {diff.map((d) => (
            <tr key={d.key}>
              <td>{d.key}</td>
              <td>{d.a}</td>
              <td>{d.b}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
