import { useEffect } from 'react';
import { keepLiveAsLayer } from '../state/actions.js';
import { useStudio, useUi } from '../state/context.js';
import { type DocumentSession } from '../state/document.js';
import { LiveMode } from '../state/live.js';

/**
 * Live mode beside the canvas (docs: issue 15): a toggle, the newest preview of the frame,
 * and one click to keep it as a layer or as a candidate. The previews come from LiveMode
 * (state/live.ts) while the toggle is on.
 */
export function LivePanel({ session }: { session: DocumentSession }) {
  const studio = useStudio();
  const on = useUi((s) => s.liveOn);
  const live = useUi((s) => s.live);
  const updating = useUi((s) => s.jobs.some((j) => j.purpose === 'live'));
  useEffect(() => (on ? new LiveMode(studio, session).start() : undefined), [on, studio, session]);
  return (
    <section className={`live-panel${on ? ' on' : ''}`} aria-label="Live preview" data-testid="live-panel">
      <button type="button" aria-pressed={on} data-testid="live-toggle" title="Preview the frame after every change (few steps, fixed seed)" onClick={() => studio.store.set({ liveOn: !on })}>
        Live {on ? 'on' : 'off'}
      </button>
      {on && (
        <>
          {live ? (
            <img src={live.url} alt={`Live preview, seed ${live.seed}`} data-testid="live-image" data-job-id={live.jobId} width={live.width} height={live.height} />
          ) : (
            <div className="live-empty muted">Draw or type: a preview appears here</div>
          )}
          <span className="muted" data-testid="live-status" data-updating={updating}>
            {updating ? 'updating…' : live ? `seed ${live.seed}` : ''}
          </span>
          {live && (
            <div className="row">
              <button type="button" data-testid="live-keep-layer" onClick={() => keepLiveAsLayer(studio, session)}>
                Keep as layer
              </button>
              <button type="button" data-testid="live-keep-candidate" onClick={() => void studio.keepLiveAsCandidate()}>
                Keep as candidate
              </button>
            </div>
          )}
        </>
      )}
    </section>
  );
}
