// Prompt text rules shared by the library (autocomplete over the whole history) and the UI
// (autocomplete over prompts typed in this window), so both suggest the same phrases.

/**
 * Autocomplete phrases: the comma-separated parts of `prompts` (emphasis weights and brackets
 * dropped) that start with `prefix` and are longer than it, most frequent first, then A–Z.
 */
export function countPromptPhrases(prompts: Iterable<string>, prefix: string, limit: number): Array<{ phrase: string; count: number }> {
  const needle = prefix.trim().toLowerCase();
  const counts = new Map<string, number>();
  for (const prompt of prompts) {
    for (const raw of prompt.split(',')) {
      const phrase = raw.replace(/:\s*[\d.]+\s*([)\]]|$)/g, '$1').replace(/[()[\]]/g, '').trim();
      if (phrase.length <= needle.length || !phrase.toLowerCase().startsWith(needle)) continue;
      counts.set(phrase, (counts.get(phrase) ?? 0) + 1);
    }
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, limit)
    .map(([phrase, count]) => ({ phrase, count }));
}
