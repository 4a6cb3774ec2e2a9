import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { z } from 'zod';
import { App } from './App.js';
import { createClient } from './api/client.js';
import { ApiProvider } from './api/context.js';
import './styles.css';

// zod compiles schemas with `new Function` when it may; the page's CSP forbids eval, so
// tell it up front instead of letting it probe (and log a CSP violation).
z.config({ jitless: true });

const root = document.getElementById('root');
if (!root) throw new Error('index.html lacks #root');
createRoot(root).render(
  <StrictMode>
    <ApiProvider api={createClient()}>
      <App />
    </ApiProvider>
  </StrictMode>,
);
