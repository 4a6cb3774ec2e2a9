"""A small byte-level BPE tokenizer trainer that writes CLIP's on-disk format.

CLIP's tokenizer (openai/CLIP simple_tokenizer.py, and Hugging Face's CLIPTokenizer that
reads the same files): text is lower-cased and whitespace collapsed, split by CLIP's pattern,
each piece's UTF-8 bytes mapped through GPT-2's bytes-to-unicode table, the piece's last
symbol gets "</w>", and merges are applied lowest rank first. The vocabulary is: the 256
byte symbols, the same 256 with "</w>", one entry per merge in order, then
<|startoftext|> and <|endoftext|>. We learn the merges from our own captions, so the vocab
is ~1k entries instead of 49408, but any engine that reads CLIP's files reads ours.
"""
from __future__ import annotations

import collections
import json
import os
import re
from typing import Dict, List, Tuple

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
MAX_LENGTH = 77

# CLIP's pattern uses \p{L} / \p{N} (the `regex` module); with the standard library,
# [^\W\d_] is "a letter" and \d "a digit"; punctuation runs include "_".
_PAT = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+""", re.IGNORECASE)


def bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's reversible byte → printable-unicode table (openai/gpt-2 encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


_B2U = bytes_to_unicode()


def pre_tokenize(text: str) -> List[str]:
    text = re.sub(r"\s+", " ", text).strip().lower()
    return [m for m in _PAT.findall(text)]


def _symbols(piece: str) -> Tuple[str, ...]:
    chars = [_B2U[b] for b in piece.encode("utf-8")]
    return tuple(chars[:-1]) + (chars[-1] + "</w>",)


def train(texts: List[str], num_merges: int = 1200, min_count: int = 2) -> List[Tuple[str, str]]:
    """Classic BPE (Sennrich et al. 2016) over word counts: repeatedly merge the most
    frequent adjacent pair; ties broken by the pair itself so training is deterministic."""
    words = collections.Counter(_symbols(p) for t in texts for p in pre_tokenize(t))
    merges: List[Tuple[str, str]] = []
    vocab = dict(words)
    for _ in range(num_merges):
        pairs: Dict[Tuple[str, str], int] = collections.Counter()
        for w, c in vocab.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if best[1] < min_count:
            break
        (a, b) = best[0]
        merges.append((a, b))
        new = {}
        for w, c in vocab.items():
            out, i = [], 0
            while i < len(w):
                if i < len(w) - 1 and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] = new.get(tuple(out), 0) + c
        vocab = new
    return merges


def build_vocab(merges: List[Tuple[str, str]]) -> Dict[str, int]:
    base = list(_B2U.values())
    entries = base + [b + "</w>" for b in base] + ["".join(m) for m in merges] + [BOS, EOS]
    vocab: Dict[str, int] = {}
    for e in entries:
        if e not in vocab:
            vocab[e] = len(vocab)
    return vocab


def save(folder: str, merges: List[Tuple[str, str]]) -> None:
    """Write vocab.json, merges.txt, special_tokens_map.json, tokenizer_config.json."""
    os.makedirs(folder, exist_ok=True)
    vocab = build_vocab(merges)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    special = {
        "bos_token": {"content": BOS, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
        "eos_token": {"content": EOS, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
        "unk_token": {"content": EOS, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
        # SD1 style: pad with the end token.
        "pad_token": EOS,
    }
    with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
    cfg = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MAX_LENGTH,
        "do_lower_case": True,
        "errors": "replace",
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": EOS,
        "pad_token": EOS,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": True,
    }
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


class Tokenizer:
    """Reads a CLIP-format folder and encodes text to 77 ids (bos + ids + eos, eos padding)."""

    def __init__(self, folder: str):
        with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
            self.vocab: Dict[str, int] = json.load(f)
        with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
            lines = [ln.rstrip("\n") for ln in f if ln.strip() and not ln.startswith("#version")]
        self.ranks = {tuple(ln.split(" ")): i for i, ln in enumerate(lines)}
        self.bos, self.eos = self.vocab[BOS], self.vocab[EOS]
        self.cache: Dict[str, List[int]] = {}

    def _bpe(self, piece: str) -> List[int]:
        if piece in self.cache:
            return self.cache[piece]
        word = list(_symbols(piece))
        while len(word) > 1:
            rank, best = min((self.ranks.get((x, y), 1 << 30), (x, y)) for x, y in zip(word, word[1:]))
            if rank == 1 << 30:
                break
            # Merge every occurrence of the best pair, left to right (CLIP's loop).
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        ids = [self.vocab[s] for s in word]
        self.cache[piece] = ids
        return ids

    def encode(self, text: str) -> List[int]:
        ids: List[int] = []
        for p in pre_tokenize(text):
            ids += [self.vocab[p]] if p in (BOS, EOS) else self._bpe(p)
        ids = [self.bos] + ids[: MAX_LENGTH - 2] + [self.eos]
        return ids + [self.eos] * (MAX_LENGTH - len(ids))


if __name__ == "__main__":
    import argparse
    import random
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    import scenes

    ap = argparse.ArgumentParser(description="Learn the starter tokenizer's merges from generated captions.")
    ap.add_argument("--out", default="resources/models/starter/tokenizer")
    ap.add_argument("--captions", type=int, default=20000)
    ap.add_argument("--merges", type=int, default=1200)
    a = ap.parse_args()
    texts = []
    for s in range(a.captions):
        rng = random.Random(s)
        d = scenes.describe(rng)
        texts.append(scenes.caption(d, rng))
    # A few general words artists type, so common prompts do not fall apart into bytes.
    texts += ["a painting of a landscape", "beautiful detailed scene", "green grass", "dark night", "a cat", "a dog", "a person"] * 10
    merges = train(texts, a.merges)
    save(a.out, merges)
    tok = Tokenizer(a.out)
    print(len(merges), "merges;", len(tok.vocab), "tokens; longest caption",
          max(sum(1 for i in tok.encode(t) if i != tok.eos) for t in texts[:2000]), "ids")
    print(tok.encode("a red house beside a lake under a sunset sky")[:16])
