import { useMemo, useState } from 'react';
import type { AssetList } from '../../../app/contract/index.js';
import { addTag, formatWeight, loraTags, removeTag, setTagWeight } from './lora-tags.js';

interface Props {
  value: string;
  onChange: (value: string) => void;
  assets: AssetList;
  /** The LoRA list has been read: only then is a name flagged as unknown. */
  loaded: boolean;
  /** Asks for the list again (the picker is being opened). */
  refresh: () => void;
  testId: string;
}

/**
 * A chip's weight: the text typed is kept while it is not a number yet ("0." on the way to
 * "0.6"); a number rewrites the tag. A weight changed in the prompt box shows here.
 */
function ChipWeight({ name, weight, onChange }: { name: string; weight: number; onChange: (w: number) => void }) {
  const shown = Number.isFinite(weight) ? formatWeight(weight) : '';
  const [text, setText] = useState(shown);
  const [was, setWas] = useState(shown);
  if (shown !== was) {
    // The tag changed from elsewhere (typed in the prompt): follow it, unless it is what was typed here.
    setWas(shown);
    if (Number(text) !== weight) setText(shown);
  }
  return (
    <input
      type="number"
      aria-label={`Weight of LoRA ${name}`}
      data-testid="lora-chip-weight"
      step={0.05}
      min={-4}
      max={4}
      value={text}
      onChange={(e) => {
        setText(e.target.value);
        const w = e.target.valueAsNumber;
        if (Number.isFinite(w)) onChange(w);
      }}
    />
  );
}

/**
 * The prompt's <lora:NAME:WEIGHT> tags as chips (docs/models.md, "LoRA chips"): name, an
 * editable weight that rewrites the tag in the text, and a remove button. A name with no file
 * in ATELIER_HOME/loras is flagged before generating (the run would fail with not_found). The
 * "Add LoRA" picker lists the files there and appends a tag.
 */
export function LoraChips({ value, onChange, assets, loaded, refresh, testId }: Props) {
  const tags = useMemo(() => loraTags(value), [value]);
  const known = useMemo(() => new Set(assets.loras.map((l) => l.name)), [assets.loras]);
  const unknown = loaded ? [...new Set(tags.filter((t) => !known.has(t.name)).map((t) => t.name))] : [];
  return (
    <div className="lora-chips" data-testid={testId}>
      {tags.map((tag, i) => {
        const missing = loaded && !known.has(tag.name);
        return (
          <span key={`${i}-${tag.name}`} className={`chip lora-chip${missing ? ' unknown' : ''}`} data-testid="lora-chip" data-name={tag.name} title={missing ? `No ${tag.name}.safetensors in ${assets.folders.loras}` : `${tag.kind} ${tag.name}`}>
            <span className="chip-name">{tag.name}</span>
            <ChipWeight name={tag.name} weight={tag.weight} onChange={(w) => onChange(setTagWeight(value, i, w))} />
            <button type="button" className="chip-remove" aria-label={`Remove LoRA ${tag.name}`} data-testid="lora-chip-remove" onClick={() => onChange(removeTag(value, i))}>
              ×
            </button>
          </span>
        );
      })}
      <select
        className="add-lora"
        data-testid="add-lora"
        aria-label="Add LoRA"
        title={assets.loras.length > 0 ? undefined : `Put LoRA .safetensors files in ${assets.folders.loras}`}
        value=""
        onFocus={refresh}
        onChange={(e) => {
          if (e.target.value) onChange(addTag(value, e.target.value));
        }}
      >
        <option value="">{assets.loras.length > 0 ? 'Add LoRA…' : 'No LoRAs yet'}</option>
        {assets.loras.map((l) => (
          <option key={l.path} value={l.name}>
            {l.name}
          </option>
        ))}
      </select>
      {unknown.length > 0 && (
        <p className="lora-warning" role="alert" data-testid="lora-unknown">
          {unknown.length === 1 ? `LoRA "${unknown[0]}" is not` : `LoRAs ${unknown.map((n) => `"${n}"`).join(', ')} are not`} in {assets.folders.loras}: generating will fail
        </p>
      )}
    </div>
  );
}
