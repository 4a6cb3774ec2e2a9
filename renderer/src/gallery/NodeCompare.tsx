import { useEffect, useState } from 'react';
import type { GenerationRequest, GenerationRequestInput } from '../../../app/contract/index.js';
import { useStudio, useUi } from '../state/context.js';
import { type DocumentSession } from '../state/document.js';
import { type StagedCandidate, errorMessage } from '../state/studio.js';
import { acceptCandidate, favourite, refineCandidate } from '../state/actions.js';
import { Compare } from './Gallery.js';
import { inputDiff } from './input-diff.js';

// Two nodes of the iteration tree in the Compare overlay (docs: issue 15, "two nodes
// compared"): each node's picture (its favourite, else its first candidate), the parameters
// that differ, and the inputs that differ — init image, mask, control maps, regions — as the
// library recorded them.

/** The request without its images, for the parameter table (the inputs have their own rows). */
function parameters(request: GenerationRequest, seed: number): GenerationRequestInput {
  const { init: _i, inpaint: _m, controls: _c, regions: _r, ...rest } = request;
  return { ...rest, seed, batch: 1 };
}

export function NodeCompare({ session, a, b, onClose }: { session: DocumentSession; a: StagedCandidate; b: StagedCandidate; onClose: () => void }) {
  const studio = useStudio();
  const favourites = useUi((s) => s.favourites);
  const ga = a.generationId;
  const gb = b.generationId;
  // What the library recorded for the two generations (null: not there); the key says for which pair.
  const [recorded, setRecorded] = useState<{ key: string; ra: GenerationRequest | null; rb: GenerationRequest | null } | null>(null);
  useEffect(() => {
    let live = true;
    const get = (id: string) => studio.api.call('library.get', { id }).then((r) => r.request);
    Promise.all([get(ga), get(gb)]).then(
      ([ra, rb]) => {
        if (live) setRecorded({ key: `${ga} ${gb}`, ra, rb });
      },
      (error: unknown) => {
        // Not in this library (a project made elsewhere): the document's parameters still compare.
        studio.toast('info', `Inputs cannot be compared: ${errorMessage(error)}`);
        if (live) setRecorded({ key: `${ga} ${gb}`, ra: null, rb: null });
      },
    );
    return () => {
      live = false;
    };
  }, [studio, ga, gb]);
  const mine = recorded?.key === `${ga} ${gb}` ? recorded : null;
  const shown = {
    a: mine?.ra ? { ...a, request: parameters(mine.ra, a.seed) } : a,
    b: mine?.rb ? { ...b, request: parameters(mine.rb, b.seed) } : b,
    inputs: mine ? inputDiff(mine.ra, mine.rb) : [],
  };
  const actions = {
    onFavourite: (c: StagedCandidate) => void favourite(studio, session, c),
    onAccept: (c: StagedCandidate) => acceptCandidate(studio, session, c),
    onRefine: (c: StagedCandidate) => void refineCandidate(studio, session, c),
  };
  return <Compare a={shown.a} b={shown.b} inputs={shown.inputs} actions={actions} favourites={favourites} onClose={onClose} />;
}
