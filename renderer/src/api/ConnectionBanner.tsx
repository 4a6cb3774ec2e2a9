import { useUi } from '../state/context.js';

/**
 * Says so at once when the studio stops answering (docs: issue 15): the page keeps the
 * canvas and tries again by itself; a studio started on another port prints a link to use.
 */
export function ConnectionBanner() {
  const connection = useUi((s) => s.connection);
  if (connection !== 'disconnected') return null;
  return (
    <div className="connection-banner" role="alert" data-testid="disconnected">
      <strong>Disconnected</strong> The studio is not answering; reconnecting by itself. The canvas stays in this tab. If the studio was started again on another port, open the link it printed.
    </div>
  );
}
