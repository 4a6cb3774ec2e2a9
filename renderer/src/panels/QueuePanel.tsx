import { useStudio, useUi } from '../state/context.js';

function seconds(ms: number | undefined): string {
  if (ms === undefined) return '…';
  return ms < 60_000 ? `${Math.ceil(ms / 1000)} s` : `${Math.floor(ms / 60_000)} min ${Math.ceil((ms % 60_000) / 1000)} s`;
}

/** The running job's progress with a live preview, and the pending queue. */
export function QueuePanel() {
  const studio = useStudio();
  const jobs = useUi((s) => s.jobs);
  const connection = useUi((s) => s.connection);
  const running = jobs.find((j) => j.state === 'running');
  const pending = jobs.filter((j) => j !== running);
  if (jobs.length === 0) return null;
  const fraction = running?.totalSteps ? (running.step ?? 0) / running.totalSteps : 0;
  return (
    <section className="queue" aria-label="Generation queue" data-testid="queue">
      {running && (
        <div className="progress" data-testid="progress">
          {running.preview && <img className="live-preview" src={running.preview} alt="Live preview" data-testid="live-preview" />}
          <div className="progress-body">
            <div className="bar" role="progressbar" aria-valuemin={0} aria-valuemax={running.totalSteps ?? 0} aria-valuenow={running.step ?? 0}>
              <div className="fill" style={{ width: `${(fraction * 100).toFixed(1)}%` }} />
            </div>
            {connection === 'disconnected' ? (
              // No news is not progress: say what is known instead of a frozen estimate.
              <span data-testid="progress-text">
                Studio unreachable · last heard at step {running.step ?? 0}/{running.totalSteps ?? '?'}
              </span>
            ) : (
              <span data-testid="progress-text">
                Step {running.step ?? 0}/{running.totalSteps ?? '?'} · {seconds(running.etaMs)} left{running.device ? ` · ${running.device}` : ''}
              </span>
            )}
          </div>
          <button type="button" data-testid="cancel-job" onClick={() => void studio.cancel(running.jobId)} title="Cancel (Esc)">
            Cancel
          </button>
        </div>
      )}
      {pending.length > 0 && (
        <ol className="pending" data-testid="pending-jobs">
          {pending.map((j) => (
            <li key={j.jobId} data-testid="pending-job">
              <span>
                {j.purpose} · {j.request.batch ?? 1}× “{j.request.prompt.slice(0, 40)}”
              </span>
              <button type="button" aria-label="Cancel queued job" onClick={() => void studio.cancel(j.jobId)}>
                ×
              </button>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
