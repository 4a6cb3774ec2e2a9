import { useEffect, useState } from 'react';
import { useApi } from '../api/context.js';

/** How long typing pauses before the library is asked (one query per pause, not per key). */
export const LIBRARY_DEBOUNCE_MS = 150;

/**
 * Phrases of recorded prompts (the library's history, through library.promptPhrases) that
 * start with `word`, fetched after typing pauses; answers to an older word are dropped. An
 * unreachable library just means no library suggestions: local ones still show.
 */
export function useLibraryPhrases(word: string, enabled: boolean): { word: string; phrases: string[] } {
  const api = useApi();
  const [found, setFound] = useState<{ word: string; phrases: string[] }>({ word: '', phrases: [] });
  const prefix = word.trim();
  const ask = enabled && prefix.length >= 2;
  useEffect(() => {
    if (!ask) return;
    let current = true;
    const timer = setTimeout(() => {
      api
        .call('library.promptPhrases', { prefix, limit: 8 })
        .then(({ phrases }) => {
          if (current) setFound({ word: prefix, phrases: phrases.map((p) => p.phrase) });
        })
        // Suggestions from history are a help, not a need: the prompt field works without them.
        .catch(() => undefined);
    }, LIBRARY_DEBOUNCE_MS);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [api, ask, prefix]);
  return ask && found.word === prefix ? found : { word: prefix, phrases: [] };
}
