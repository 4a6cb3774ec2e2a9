import { useEffect, useState } from 'react';
import type { StatusResult } from '../../app/contract/index.js';
import { useApi } from './api/context.js';

export function App() {
  const api = useApi();
  const [status, setStatus] = useState<StatusResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState(false);

  useEffect(() => {
    api.call('status', {}).then(setStatus, (e: unknown) => setError(e instanceof Error ? e.message : String(e)));
    return api.subscribe((event) => {
      if (event.type === 'hello') setLive(true);
    });
  }, [api]);

  return (
    <main className="app">
      <header className="topbar">
        <h1>Atelier</h1>
        <span className="status" data-testid="server-status" data-live={live}>
          {error ? `Server error: ${error}` : status ? `v${status.appVersion} · ${status.transport}` : 'connecting…'}
        </span>
      </header>
      {status && (
        <ul className="devices" data-testid="devices">
          {status.devices.map((d) => (
            <li key={d.id}>
              {d.label} — {d.available ? 'available' : 'not installed'}
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}
