import { useEffect, useState } from 'react';
import { parameterDiff } from '../state/settings.js';
import { useStudio, useUi } from '../state/context.js';
import { type StagedBatch, type StagedCandidate } from '../state/studio.js';
import { libraryImageUrl } from '../api/media.js';
import { type InputDiffRow, type InputSide } from './input-diff.js';

interface Actions {
  onFavourite: (c: StagedCandidate) => void;
  onAccept: (c: StagedCandidate) => void;
  onRefine: (c: StagedCandidate) => void;
  onVariations: (c: StagedCandidate) => void;
}

/**
 * The staging strip (docs: issue 15): the current generation's candidates — pick, compare,
 * accept, refine, vary — and below them the earlier batches, newest first, one click from
 * coming back. Compare opens over the studio, with Accept, Refine and Favourite on each side.
 */
export function Gallery(actions: Actions) {
  const studio = useStudio();
  const staging = useUi((s) => s.staging);
  const earlier = useUi((s) => s.earlier);
  const favourites = useUi((s) => s.favourites);
  const compare = useUi((s) => s.compare);
  const strength = useUi((s) => s.variationStrength);
  if (staging.length === 0 && earlier.length === 0) return null;
  const pair = compare.map((id) => studio.findStaged(id)).filter((c): c is StagedCandidate => Boolean(c));
  return (
    <section className="gallery" aria-label="Candidates" data-testid="gallery">
      <div className="gallery-bar">
        <label title="How far variations move from the candidate's noise toward a new seed's (1: new seeds)">
          Variation strength
          <input
            type="range"
            min={0.05}
            max={1}
            step={0.05}
            value={strength}
            data-testid="variation-strength"
            onChange={(e) => studio.store.set({ variationStrength: e.target.valueAsNumber })}
          />
          <output>{strength.toFixed(2)}</output>
        </label>
      </div>
      <div className="gallery-row">
        <ul className="strip" data-generation-id={staging[0]?.generationId}>
          {staging.map((c) => (
            <li key={c.id} className={`candidate${compare.includes(c.id) ? ' comparing' : ''}`} data-testid="candidate" data-seed={c.seed} data-candidate-id={c.id}>
              <img src={c.url} alt={`Candidate seed ${c.seed}`} width={c.width} height={c.height} />
              <div className="candidate-actions">
                <button type="button" aria-pressed={favourites.has(c.id)} aria-label="Favourite" data-testid="favourite" onClick={() => actions.onFavourite(c)}>
                  {favourites.has(c.id) ? '★' : '☆'}
                </button>
                <button type="button" aria-pressed={compare.includes(c.id)} data-testid="compare" onClick={() => studio.toggleCompare(c.id)}>
                  Compare
                </button>
                <button type="button" data-testid="accept" onClick={() => actions.onAccept(c)}>
                  Accept
                </button>
                <button type="button" data-testid="refine" onClick={() => actions.onRefine(c)} title="img2img, or inpaint with the current mask">
                  Refine
                </button>
                <button type="button" data-testid="variations" onClick={() => actions.onVariations(c)} title="Same init, mask and controls; noise blended toward new seeds">
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
        {earlier.length > 0 && <EarlierBatches batches={earlier} onShow={(b) => studio.showBatch(b.candidates)} />}
      </div>
      {pair.length === 2 && pair[0] && pair[1] && <Compare a={pair[0]} b={pair[1]} actions={actions} favourites={favourites} onClose={() => studio.store.set({ compare: [] })} />}
    </section>
  );
}

function batchLabel(batch: StagedBatch): string {
  const first = batch.candidates[0];
  const request = first?.request;
  const mode = request?.inpaint ? 'inpaint' : request?.init ? 'img2img' : 'txt2img';
  const seeds = batch.candidates.map((c) => c.seed);
  const range = seeds.length > 1 && seeds.some((s) => s !== seeds[0]) ? `#${Math.min(...seeds)}–${Math.max(...seeds)}` : `#${seeds[0] ?? ''}`;
  return `${mode} ${range} · ${batch.candidates.length}`;
}

/**
 * Earlier batches, newest first, beside the strip (so the strip's height, and the canvas
 * above it, stay as they were): a click on a batch's label brings it back; a click on one of
 * its pictures marks it for Compare, so a candidate can be compared with an older one
 * (pixels and parameters).
 */
function EarlierBatches({ batches, onShow }: { batches: readonly StagedBatch[]; onShow: (batch: StagedBatch) => void }) {
  const studio = useStudio();
  const compare = useUi((s) => s.compare);
  return (
    <div className="earlier" data-testid="earlier-batches">
      <h3>Earlier</h3>
      <ol>
        {batches.map((b) => (
          <li key={b.generationId} className="earlier-batch" data-testid="earlier-batch" data-generation-id={b.generationId}>
            <button type="button" className="earlier-show" data-testid="earlier-show" onClick={() => onShow(b)} title="Show this batch in the strip">
              {batchLabel(b)}
            </button>
            <span className="earlier-thumbs">
              {b.candidates.map((c) => (
                <button
                  key={c.id}
                  type="button"
                  className={compare.includes(c.id) ? 'comparing' : ''}
                  aria-pressed={compare.includes(c.id)}
                  data-testid="earlier-compare"
                  title="Compare with another candidate"
                  onClick={() => studio.toggleCompare(c.id)}
                >
                  <img src={c.url} alt={`Earlier candidate seed ${c.seed}`} data-testid="earlier-candidate" data-candidate-id={c.id} />
                </button>
              ))}
            </span>
          </li>
        ))}
      </ol>
    </div>
  );
}

export interface CompareProps {
  a: StagedCandidate;
  b: StagedCandidate;
  actions: Pick<Actions, 'onFavourite' | 'onAccept' | 'onRefine'>;
  favourites: ReadonlySet<string>;
  onClose: () => void;
  /** Inputs that differ (two tree nodes: gallery/NodeCompare.tsx). */
  inputs?: readonly InputDiffRow[];
}

function InputCell({ side }: { side: InputSide | null }) {
  if (!side) return <>—</>;
  return (
    <span className="input-cell">
      {side.sha256 && <img className="diff-thumb" src={libraryImageUrl(side.sha256)} alt="" data-sha256={side.sha256} />}
      {side.detail} {side.sha256 && <code className="muted">{side.sha256.slice(0, 8)}</code>}
    </span>
  );
}

/** Side by side or under a slider, over the studio (Esc closes), with each side's actions and the parameters that differ. */
export function Compare({ a, b, actions, favourites, onClose, inputs = [] }: CompareProps) {
  const [mode, setMode] = useState<'side' | 'slider'>('side');
  const [split, setSplit] = useState(50);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        onClose();
      }
    };
    window.addEventListener('keydown', onKey, true);
    return () => window.removeEventListener('keydown', onKey, true);
  }, [onClose]);
  const diff = parameterDiff(a.request as Record<string, unknown>, b.request as Record<string, unknown>);
  const sideActions = (c: StagedCandidate, side: 'left' | 'right') => (
    <div className="compare-actions" data-testid={`compare-${side}`} data-candidate-id={c.id}>
      <span className="muted">#{c.seed}</span>
      <button type="button" aria-pressed={favourites.has(c.id)} aria-label={`Favourite ${side}`} data-testid="favourite" onClick={() => actions.onFavourite(c)}>
        {favourites.has(c.id) ? '★' : '☆'}
      </button>
      <button
        type="button"
        data-testid="accept"
        onClick={() => {
          actions.onAccept(c);
          onClose();
        }}
      >
        Accept
      </button>
      <button
        type="button"
        data-testid="refine"
        onClick={() => {
          actions.onRefine(c);
          onClose();
        }}
      >
        Refine
      </button>
    </div>
  );
  return (
    <div className="compare-overlay" data-testid="compare-overlay" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div className="compare" role="dialog" aria-modal="true" aria-label="Compare candidates" data-testid="compare-view">
        <div className="row">
          <button type="button" aria-pressed={mode === 'side'} onClick={() => setMode('side')}>
            Side by side
          </button>
          <button type="button" aria-pressed={mode === 'slider'} onClick={() => setMode('slider')} data-testid="compare-slider-mode">
            Slider
          </button>
          <span className="spacer" />
          <button type="button" onClick={onClose} aria-label="Close compare" data-testid="compare-close">
            ×
          </button>
        </div>
        {mode === 'side' ? (
          <div className="compare-sides">
            <figure>
              <img src={a.url} alt={`Seed ${a.seed}`} />
              {sideActions(a, 'left')}
            </figure>
            <figure>
              <img src={b.url} alt={`Seed ${b.seed}`} />
              {sideActions(b, 'right')}
            </figure>
          </div>
        ) : (
          <>
            <div className="slider-view">
              <img src={b.url} alt={`Seed ${b.seed}`} />
              <img src={a.url} alt={`Seed ${a.seed}`} className="over" style={{ clipPath: `inset(0 ${100 - split}% 0 0)` }} />
              <input type="range" min={0} max={100} value={split} aria-label="Split" onChange={(e) => setSplit(e.target.valueAsNumber)} />
            </div>
            <div className="row">
              {sideActions(a, 'left')}
              {sideActions(b, 'right')}
            </div>
          </>
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
            {inputs.map((d) => (
              <tr key={`input ${d.key}`} data-testid="input-diff" data-key={d.key}>
                <td>{d.key}</td>
                <td>
                  <InputCell side={d.a} />
                </td>
                <td>
                  <InputCell side={d.b} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
