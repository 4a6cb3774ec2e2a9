import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import { createClient } from './api/client.js';
import { ApiProvider } from './api/context.js';
import './styles.css';

const root = document.getElementById('root');
if (!root) throw new Error('index.html lacks #root');
createRoot(root).render(
  <StrictMode>
    <ApiProvider api={createClient()}>
      <App />
    </ApiProvider>
  </StrictMode>,
);
