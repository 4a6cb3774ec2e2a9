import { useLayoutEffect, useMemo, useRef, useState } from 'react';
import { mergeSuggestions, parseEmphasis, suggestPhrases, wordAt } from './emphasis.js';
import { useLibraryPhrases } from './useLibraryPhrases.js';

interface Props {
  label: string;
  testId: string;
  value: string;
  onChange: (value: string) => void;
  history: readonly string[];
  /** Also suggest phrases from the library's recorded prompts (the positive prompt only). */
  fromLibrary?: boolean;
  /** Names offered first when the word typed starts them (textual-inversion embeddings, used by name). */
  names?: readonly string[];
  rows?: number;
}

const NO_NAMES: readonly string[] = [];

/** Names that the word being typed starts (any case), but not one already typed in full. */
function suggestNames(names: readonly string[], word: string): string[] {
  const w = word.toLowerCase();
  if (!w) return [];
  return names.filter((n) => n.toLowerCase().startsWith(w) && n.toLowerCase() !== w);
}

function weightClass(weight: number): string {
  if (weight > 1.001) return weight > 1.3 ? 'w-up2' : 'w-up';
  if (weight < 0.999) return 'w-down';
  return '';
}

/**
 * A prompt box that highlights emphasis syntax: a transparent textarea over a mirror that
 * paints the same text with colours (CSP forbids inline style tags, not style props).
 */
export function PromptField({ label, testId, value, onChange, history, fromLibrary = false, names = NO_NAMES, rows = 3 }: Props) {
  const area = useRef<HTMLTextAreaElement>(null);
  const mirror = useRef<HTMLDivElement>(null);
  const [caret, setCaret] = useState(0);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  const spans = useMemo(() => parseEmphasis(value), [value]);
  const { start, word } = wordAt(value, caret);
  const library = useLibraryPhrases(word, open && fromLibrary);
  const suggestions = useMemo(() => (open ? mergeSuggestions([...suggestNames(names, word), ...suggestPhrases(history, word)], library.phrases) : []), [open, names, history, word, library]);

  // Where the caret goes once an accepted phrase is in the box. Placed in a layout effect
  // when that text commits, not in a later animation frame: on a busy machine a frame could
  // come after the artist typed on, and pull the caret back into what they typed.
  const pendingCaret = useRef<{ text: string; pos: number } | null>(null);
  useLayoutEffect(() => {
    const pending = pendingCaret.current;
    const box = area.current;
    if (!pending || !box || value !== pending.text) return;
    pendingCaret.current = null;
    box.focus();
    box.setSelectionRange(pending.pos, pending.pos);
  }, [value]);

  const accept = (phrase: string) => {
    const next = value.slice(0, start) + phrase + value.slice(caret);
    pendingCaret.current = { text: next, pos: start + phrase.length };
    onChange(next);
    setOpen(false);
  };

  return (
    <label className="prompt-field">
      <span className="label">{label}</span>
      <div className="prompt-box">
        <div className="prompt-mirror" ref={mirror} aria-hidden="true">
          {spans.map((s) => (
            <span key={s.start} className={`em-${s.kind} ${weightClass(s.weight)}`} data-weight={s.weight.toFixed(2)}>
              {value.slice(s.start, s.end)}
            </span>
          ))}
          {'\u200b'}
        </div>
        <textarea
          ref={area}
          data-testid={testId}
          rows={rows}
          spellCheck={false}
          value={value}
          aria-autocomplete="list"
          onChange={(e) => {
            onChange(e.target.value);
            setCaret(e.target.selectionStart);
            setOpen(true);
            setActive(0);
          }}
          onScroll={(e) => {
            if (mirror.current) mirror.current.scrollTop = e.currentTarget.scrollTop;
          }}
          onSelect={(e) => setCaret(e.currentTarget.selectionStart)}
          onBlur={() => setTimeout(() => setOpen(false), 150)}
          onKeyDown={(e) => {
            // Ctrl/Cmd+Enter (generate) is the studio-wide shortcut; it must not also run here.
            if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') return;
            if (suggestions.length === 0) return;
            if (e.key === 'ArrowDown') {
              e.preventDefault();
              setActive((a) => (a + 1) % suggestions.length);
            } else if (e.key === 'ArrowUp') {
              e.preventDefault();
              setActive((a) => (a - 1 + suggestions.length) % suggestions.length);
            } else if (e.key === 'Tab' || e.key === 'Enter') {
              const pick = suggestions[active];
              if (pick) {
                e.preventDefault();
                accept(pick);
              }
            } else if (e.key === 'Escape') {
              e.stopPropagation();
              setOpen(false);
            }
          }}
        />
      </div>
      {suggestions.length > 0 && (
        <ul className="suggestions" role="listbox" data-testid={`${testId}-suggestions`}>
          {suggestions.map((s, i) => (
            <li key={s} role="option" aria-selected={i === active} className={i === active ? 'active' : ''} onMouseDown={(e) => { e.preventDefault(); accept(s); }}>
              {s}
            </li>
          ))}
        </ul>
      )}
    </label>
  );
}
