import { useStudio, useUi } from '../state/context.js';

/** Errors stay until dismissed; information fades by itself. */
export function Toasts() {
  const studio = useStudio();
  const toasts = useUi((s) => s.toasts);
  return (
    <div className="toasts" role="status" aria-live="polite">
      {toasts.map((t) => (
        <div key={t.id} className={`toast toast-${t.kind}`} data-testid={`toast-${t.kind}`} role={t.kind === 'error' ? 'alert' : undefined}>
          <span>{t.message}</span>
          <button type="button" aria-label="Dismiss" onClick={() => studio.dismissToast(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
