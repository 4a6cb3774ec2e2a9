import { createContext, type ReactNode, useContext } from 'react';
import { type StudioController, type StudioUiState } from './studio.js';
import { useStore } from './store.js';

const StudioContext = createContext<StudioController | null>(null);

export function StudioProvider({ studio, children }: { studio: StudioController; children: ReactNode }) {
  return <StudioContext.Provider value={studio}>{children}</StudioContext.Provider>;
}

export function useStudio(): StudioController {
  const studio = useContext(StudioContext);
  if (!studio) throw new Error('useStudio() outside <StudioProvider>');
  return studio;
}

/** A slice of the studio's UI state; re-renders when that slice changes. */
export function useUi<T>(select: (state: StudioUiState) => T): T {
  return useStore(useStudio().store, select);
}
