import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { InvalidModelError } from '../model/errors.js';

// A Hugging Face CLIPTokenizer folder (vocab.json, merges.txt, special tokens) made from
// OpenAI's CLIP BPE file (resources/tokenizers/clip/bpe_simple_vocab_16e6.txt.gz, MIT), the
// way openai/CLIP's simple_tokenizer.py builds its vocabulary: the 256 byte characters, the
// same with "</w>", one token per merge (the first 49152 − 256 − 2), then the two specials —
// 49408 ids, SD 1.x's and SD 2.x's text encoders' vocabulary (docs/models.md).

const MERGES = 49152 - 256 - 2;

/** GPT-2's byte → printable character table, in CLIP's order. */
function byteCharacters(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  return cs.map((c) => String.fromCodePoint(c));
}

/**
 * Writes vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json into
 * `dir`. `pad`: SD 1.x pads with the end token, SD 2.x's tokenizer with "!" (id 0).
 */
export function writeClipTokenizer(bpeGz: string, dir: string, pad: '<|endoftext|>' | '!'): void {
  let lines: string[];
  try {
    lines = zlib.gunzipSync(fs.readFileSync(bpeGz)).toString('utf8').split('\n');
  } catch (error) {
    throw new InvalidModelError('tokenizer', `the CLIP vocabulary ${bpeGz} cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  const merges = lines.slice(1, MERGES + 1);
  if (merges.length !== MERGES) throw new InvalidModelError('tokenizer', `${bpeGz} holds ${merges.length} merges, CLIP's has ${MERGES}`);
  const chars = byteCharacters();
  const tokens = [...chars, ...chars.map((c) => `${c}</w>`), ...merges.map((m) => m.split(' ').join('')), '<|startoftext|>', '<|endoftext|>'];
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => (vocab[t] = i));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'vocab.json'), JSON.stringify(vocab));
  fs.writeFileSync(path.join(dir, 'merges.txt'), `#version: 0.2\n${merges.join('\n')}\n`);
  const special = { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: pad };
  fs.writeFileSync(path.join(dir, 'special_tokens_map.json'), `${JSON.stringify(special, null, 2)}\n`);
  fs.writeFileSync(
    path.join(dir, 'tokenizer_config.json'),
    `${JSON.stringify({ tokenizer_class: 'CLIPTokenizer', model_max_length: 77, do_lower_case: true, errors: 'replace', add_prefix_space: false, ...special }, null, 2)}\n`,
  );
}
