import { createContext, type ReactNode, useContext } from 'react';
import type { StudioApi } from '../../../app/contract/index.js';

const ApiContext = createContext<StudioApi | null>(null);

export function ApiProvider({ api, children }: { api: StudioApi; children: ReactNode }) {
  return <ApiContext.Provider value={api}>{children}</ApiContext.Provider>;
}

export function useApi(): StudioApi {
  const api = useContext(ApiContext);
  if (!api) throw new Error('useApi() outside <ApiProvider>');
  return api;
}
