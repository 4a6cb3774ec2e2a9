import { describe, expect, it } from 'vitest';
import { addTag, formatWeight, loraTags, removeTag, setTagWeight } from '../../renderer/src/prompt/lora-tags.js';
import { parsePromptLoras } from '../../app/service/model-loras.js';

// The prompt panel's LoRA chips read and rewrite A1111's <lora:NAME:WEIGHT> tags in place.

describe('LoRA tags in a prompt', () => {
  const prompt = 'a house, <lora:style:0.8> on a hill <LYCO:Other Thing> <lora:x:-0.5:te=1>';

  it('finds each tag with its place, name and weight (1 when omitted), as the service reads them', () => {
    const tags = loraTags(prompt);
    expect(tags.map((t) => [t.kind, t.name, t.weight, t.rest])).toEqual([
      ['lora', 'style', 0.8, ''],
      ['lyco', 'Other Thing', 1, ''],
      ['lora', 'x', -0.5, ':te=1'],
    ]);
    expect(prompt.slice(tags[0]!.start, tags[0]!.end)).toBe('<lora:style:0.8>');
    expect(parsePromptLoras(prompt).loras).toEqual(tags.map((t) => ({ name: t.name, weight: t.weight })));
    expect(loraTags('<lora:bad:lots>')[0]!.weight).toBeNaN();
  });

  it('rewrites only the edited tag', () => {
    expect(setTagWeight(prompt, 0, 0.65)).toBe('a house, <lora:style:0.65> on a hill <LYCO:Other Thing> <lora:x:-0.5:te=1>');
    expect(setTagWeight(prompt, 1, 1.2)).toBe('a house, <lora:style:0.8> on a hill <lyco:Other Thing:1.2> <lora:x:-0.5:te=1>');
    expect(setTagWeight(prompt, 2, 0.3)).toBe('a house, <lora:style:0.8> on a hill <LYCO:Other Thing> <lora:x:0.3:te=1>');
    expect(setTagWeight(prompt, 9, 0.3)).toBe(prompt);
    expect(formatWeight(0.1 + 0.2)).toBe('0.3');
  });

  it('removes a tag without leaving doubled spaces or commas', () => {
    expect(removeTag(prompt, 0)).toBe('a house, on a hill <LYCO:Other Thing> <lora:x:-0.5:te=1>');
    expect(removeTag(prompt, 2)).toBe('a house, <lora:style:0.8> on a hill <LYCO:Other Thing>');
    expect(removeTag('<lora:a:1>, a cat', 0)).toBe('a cat');
    expect(removeTag('a cat, <lora:a:1>', 0)).toBe('a cat');
  });

  it('adds a tag at the end', () => {
    expect(addTag('', 'style')).toBe('<lora:style:1>');
    expect(addTag('a cat  ', 'style', 0.75)).toBe('a cat, <lora:style:0.75>');
    expect(addTag('a cat,', 'style')).toBe('a cat, <lora:style:1>');
  });
});
