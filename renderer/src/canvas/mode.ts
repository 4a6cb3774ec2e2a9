import { createStore, useStore } from '../state/store.js';
import type { ModeChoice } from './sources.js';

// The artist's choice of what Generate does with the canvas (sources.ts, resolveMode). A view
// setting of this window, like the tool: not part of the project.

export const generationMode = createStore<{ choice: ModeChoice }>({ choice: 'auto' });

export function useGenerationMode(): ModeChoice {
  return useStore(generationMode, (s) => s.choice);
}
