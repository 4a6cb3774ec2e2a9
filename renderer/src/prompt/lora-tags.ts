// A1111's LoRA tags in a prompt, <lora:NAME:WEIGHT> (also <lyco:…>), as the prompt panel's
// chips show and edit them. The same syntax the service reads (app/service/model-loras.ts):
// editing a chip rewrites only its own tag, so the rest of the prompt keeps its bytes.

export interface LoraTag {
  /** The tag's place in the prompt: text.slice(start, end) is the whole `<lora:…>`. */
  start: number;
  end: number;
  kind: 'lora' | 'lyco';
  name: string;
  /** 1 when the tag gives none (A1111's default); NaN when it is not a number. */
  weight: number;
  /** What follows the weight (`:te=1…`), kept as written. */
  rest: string;
}

const TAG = /<(lora|lyco):([^:>]+)(?::([^:>]*))?((?::[^>]*)?)>/gi;

export function loraTags(text: string): LoraTag[] {
  return [...text.matchAll(TAG)].map((m) => {
    const weight = m[3] === undefined || m[3].trim() === '' ? 1 : Number(m[3]);
    return { start: m.index, end: m.index + m[0].length, kind: m[1]!.toLowerCase() as LoraTag['kind'], name: m[2]!.trim(), weight, rest: m[4] ?? '' };
  });
}

/** A weight as a tag writes it: at most three decimals, no trailing zeros. */
export function formatWeight(weight: number): string {
  return String(Number(weight.toFixed(3)));
}

export function tagText(tag: Pick<LoraTag, 'kind' | 'name' | 'weight' | 'rest'>): string {
  return `<${tag.kind}:${tag.name}:${formatWeight(tag.weight)}${tag.rest}>`;
}

/** The prompt with tag `index` given another weight. */
export function setTagWeight(text: string, index: number, weight: number): string {
  const tag = loraTags(text)[index];
  if (!tag) return text;
  return text.slice(0, tag.start) + tagText({ ...tag, weight }) + text.slice(tag.end);
}

/** The prompt without tag `index` (and the space or comma it leaves doubled). */
export function removeTag(text: string, index: number): string {
  const tag = loraTags(text)[index];
  if (!tag) return text;
  const before = text.slice(0, tag.start).replace(/[ \t]+$/, '');
  const after = text.slice(tag.end).replace(/^[ \t]+/, '');
  if (!before) return after.replace(/^,\s*/, '');
  if (!after) return before.replace(/,$/, '');
  return /[\s,]$/.test(before) || /^[,\n]/.test(after) ? `${before}${after.startsWith(',') ? '' : ' '}${after}`.replace(/ ,/g, ',') : `${before} ${after}`;
}

/** The prompt with a new tag at its end (after a comma and space when it has text). */
export function addTag(text: string, name: string, weight = 1): string {
  const tag = tagText({ kind: 'lora', name, weight, rest: '' });
  const trimmed = text.replace(/\s+$/, '');
  if (!trimmed) return tag;
  return `${trimmed}${/,$/.test(trimmed) ? ' ' : ', '}${tag}`;
}
