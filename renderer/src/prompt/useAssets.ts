import { useCallback, useEffect, useState } from 'react';
import type { AssetList } from '../../../app/contract/index.js';
import { useApi } from '../api/context.js';

const EMPTY: AssetList = { loras: [], embeddings: [], vaes: [], folders: { loras: '', embeddings: '', vaes: '' } };

/**
 * The LoRAs, embeddings and VAEs the service can use (assets.list), read when the panel opens
 * and again on `refresh` (a picker being opened), so files dropped into their folders show up.
 * `loaded` is false until the first answer: names are not flagged as unknown before then.
 */
export function useAssets(): { assets: AssetList; loaded: boolean; refresh: () => void } {
  const api = useApi();
  const [state, setState] = useState<{ assets: AssetList; loaded: boolean }>({ assets: EMPTY, loaded: false });
  const refresh = useCallback(() => {
    api
      .call('assets.list', {})
      .then((assets) => setState({ assets, loaded: true }))
      // An older service without assets.list: no chips flagged, no names offered.
      .catch(() => undefined);
  }, [api]);
  useEffect(refresh, [refresh]);
  return { ...state, refresh };
}
