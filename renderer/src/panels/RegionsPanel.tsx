import { type InputHTMLAttributes, useState } from 'react';
import { type ProjectDocument, updateLayer, updateShape } from '../state/doc-ops.js';
import { useStudio } from '../state/context.js';
import { type DocumentSession } from '../state/document.js';
import { errorMessage } from '../state/studio.js';
import { useDocument } from '../state/useDocument.js';

// Regional prompts (docs/canvas.md): every labelled region box (G) is a region whose label is
// its prompt, and so is every mask layer given a prompt here; the artist edits each one's
// prompt and weight. An edit is one undo step, made when the field is left (or Enter), not one
// per keystroke.

interface RegionRow {
  /** The shape's id for a box, the layer's for a mask. */
  key: string;
  label: string;
  weight: number;
  locked: boolean;
  /** The document with this region's prompt or weight changed (one undo step). */
  edit: (doc: ProjectDocument, changes: { label?: string; weight?: number }) => ProjectDocument;
}

interface MaskRow extends RegionRow {
  name: string;
}

/** The undo-step names and the weight's meaning at 0, per kind of region. */
interface RegionWords {
  prompt: string;
  weight: string;
  zero: string;
}

/** A row's prompt and weight as typed, and their commits: one undo step each, checked. */
function useRegionFields(session: DocumentSession, row: RegionRow, words: RegionWords, trim: boolean) {
  const studio = useStudio();
  const [prompt, setPrompt] = useState(row.label);
  const [weight, setWeight] = useState(String(row.weight));
  const commit = (changes: { label?: string; weight?: number }, label: string) => {
    try {
      session.history.change((doc) => row.edit(doc, changes), label);
    } catch (error) {
      studio.toast('error', `${label}: ${errorMessage(error)}`);
    }
  };
  const commitPrompt = () => {
    const next = trim ? prompt.trim() : prompt;
    if (next !== row.label) commit({ label: next }, words.prompt);
  };
  const commitWeight = () => {
    const w = Number(weight);
    if (!Number.isFinite(w) || w < 0 || w > 2) {
      studio.toast('error', `A region's weight is a number from 0 to 2 (0: ${words.zero}), not “${weight}”`);
      setWeight(String(row.weight));
      return;
    }
    if (w !== row.weight) commit({ weight: w }, words.weight);
  };
  return { prompt, setPrompt, weight, setWeight, commitPrompt, commitWeight };
}

/** A field that commits when left or on Enter, not on every keystroke. */
function CommitInput({ onCommit, ...props }: InputHTMLAttributes<HTMLInputElement> & { onCommit: () => void }) {
  return (
    <input
      {...props}
      onBlur={onCommit}
      onKeyDown={(e) => {
        if (e.key === 'Enter') onCommit();
      }}
    />
  );
}

const weightField = { type: 'number', min: 0, max: 2, step: 0.1, style: { width: '4.5em' } } as const;

function RegionEditor({ session, row, index }: { session: DocumentSession; row: RegionRow; index: number }) {
  const f = useRegionFields(session, row, { prompt: 'Region prompt', weight: 'Region weight', zero: 'layout only' }, false);
  return (
    <li className="row" data-testid="region-row" data-shape-id={row.key}>
      <span aria-hidden="true">{index + 1}.</span>
      <CommitInput
        data-testid="region-prompt"
        aria-label={`Prompt of region ${index + 1}`}
        placeholder="what goes here"
        value={f.prompt}
        disabled={row.locked}
        onChange={(e) => f.setPrompt(e.target.value)}
        onCommit={f.commitPrompt}
      />
      <CommitInput
        data-testid="region-weight"
        aria-label={`Weight of region ${index + 1}`}
        {...weightField}
        value={f.weight}
        disabled={row.locked}
        onChange={(e) => f.setWeight(e.target.value)}
        onCommit={f.commitWeight}
      />
    </li>
  );
}

/**
 * A visible mask layer: with a prompt it is a region (white = the region) and no longer the
 * inpaint mask; emptying the prompt makes it an inpaint mask again.
 */
function MaskRegionEditor({ session, row }: { session: DocumentSession; row: MaskRow }) {
  const words = { prompt: row.label ? 'Mask region prompt' : 'Use mask as region', weight: 'Mask region weight', zero: 'off' };
  const f = useRegionFields(session, row, words, true);
  return (
    <li className="row" data-testid="mask-region-row" data-layer-id={row.key} data-region={row.label ? 'true' : 'false'}>
      <span title={row.label ? 'This mask is a region' : 'Give this mask a prompt to use it as a region (it is then no inpaint mask)'}>{row.name}</span>
      <CommitInput
        data-testid="mask-region-prompt"
        aria-label={`Region prompt of mask “${row.name}”`}
        placeholder="use this mask as a region: its prompt"
        value={f.prompt}
        disabled={row.locked}
        onChange={(e) => f.setPrompt(e.target.value)}
        onCommit={f.commitPrompt}
      />
      {row.label && (
        <CommitInput
          data-testid="mask-region-weight"
          aria-label={`Region weight of mask “${row.name}”`}
          {...weightField}
          value={f.weight}
          disabled={row.locked}
          onChange={(e) => f.setWeight(e.target.value)}
          onCommit={f.commitWeight}
        />
      )}
    </li>
  );
}

/** The region boxes of the visible shapes layers and the visible mask layers, each with its own prompt and weight. */
export function RegionsPanel({ session }: { session: DocumentSession }) {
  const doc = useDocument(session);
  const rows: RegionRow[] = doc.layers.flatMap((l) =>
    l.kind === 'shapes' && l.visible
      ? l.shapes.flatMap((s) =>
          s.type === 'region'
            ? [{ key: s.id, label: s.label, weight: s.weight ?? 1, locked: l.locked, edit: (d: ProjectDocument, c: { label?: string; weight?: number }) => updateShape(d, l.id, s.id, c) }]
            : [],
        )
      : [],
  );
  const masks: MaskRow[] = doc.layers.flatMap((l) =>
    l.kind === 'mask' && l.visible
      ? [
          {
            key: l.id,
            name: l.name,
            label: (l.regionPrompt ?? '').trim(),
            weight: l.regionWeight ?? 1,
            locked: l.locked,
            edit: (d: ProjectDocument, c: { label?: string; weight?: number }) =>
              updateLayer(d, l.id, 'mask', {
                ...(c.label !== undefined ? { regionPrompt: c.label || undefined } : {}),
                ...(c.weight !== undefined ? { regionWeight: c.weight } : {}),
              }),
          },
        ]
      : [],
  );
  return (
    <section className="panel regions-panel" aria-label="Regions" data-testid="regions-panel">
      <header className="panel-head">
        <h2>Regions</h2>
      </header>
      {rows.length === 0 && masks.length === 0 ? (
        <p className="hint">Draw a region box (G), or paint a mask, and give it a prompt: inside it, that prompt leads; the main prompt covers the rest.</p>
      ) : (
        <ol className="regions" style={{ listStyle: 'none', margin: 0, padding: 0, display: 'flex', flexDirection: 'column', gap: 4 }}>
          {rows.map((row, i) => (
            // Keyed by the stored values too: an undo or another edit remounts the fields with them.
            <RegionEditor key={`${row.key}:${row.label}:${row.weight}`} session={session} row={row} index={i} />
          ))}
          {masks.map((row) => (
            <MaskRegionEditor key={`${row.key}:${row.label}:${row.weight}`} session={session} row={row} />
          ))}
        </ol>
      )}
    </section>
  );
}
