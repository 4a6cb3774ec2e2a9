import { useEffect, useState } from 'react';

/**
 * The value of an async load keyed by `key`; the previous value stays until the next one is
 * ready, so layers never blink while a new part loads.
 */
export function useLoaded<T>(key: string | null, load: (key: string) => Promise<T>): T | null {
  const [state, setState] = useState<{ key: string; value: T } | null>(null);
  useEffect(() => {
    if (key === null) return;
    let live = true;
    load(key).then(
      (value) => {
        if (live) setState({ key, value });
      },
      // A part that cannot load leaves the last picture up; the loader reports its own failures.
      // A load that fails leaves the previous pixels on the canvas; rendering the layer for a
      // request or an export reports the missing pixels where it matters (raster.drawLayer).
      () => undefined,
    );
    return () => {
      live = false;
    };
    // `load` is a module function; the key decides what to load.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  return key === null ? null : (state?.value ?? null);
}
