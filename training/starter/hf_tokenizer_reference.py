"""Independent reference ids for the engine's tokenizer tests: Hugging Face transformers'
CLIPTokenizer (and CLIPTokenizerFast where present) run over the starter tokenizer folder.

    python3 training/starter/hf_tokenizer_reference.py resources/models/starter/tokenizer OUT.json

Needs `transformers` (the GPU machine has it; Debian's python3 does not). The result lives in
tests/fixtures/reference/tokenizer-hf-starter.json.
"""
import json
import sys

STRINGS = [
    "",
    "a red house beside a lake under a sunset sky, a tall tree on the left",
    "A RED House   beside\ta lake",
    "green hills at night, the moon",
    "a blue house on the right by a lake on a sunny day, a sailing boat",
    "mountains in the distance!!!",
    "what's that? it's a boat; they're sailing, we've seen it, I'm sure, you'll see, he'd go",
    "1234567890 and 3.14159",
    "year 2026, 16:9 aspect, 50% off",
    "hello-world foo_bar baz/qux",
    "emoji 🎨🖌️ painting",
    "café déjà vu naïve façade",
    "Ünïcödé ÀÉÎÕÜ ß",
    "日本語のテキスト",
    "中文 字符 测试",
    "русский текст",
    "ελληνικά",
    "עברית",
    "العربية",
    "한국어 텍스트",
    "tabs\tand\nnewlines\r\nmixed",
    "   leading and trailing spaces   ",
    "<|startoftext|>already marked<|endoftext|>",
    "quotes \"double\" and 'single'",
    "(parentheses) [brackets] {braces} <angles>",
    "a, b; c: d. e! f? g",
    "!!!???...,,,",
    "@#$%^&*()_+-=~`|\\",
    "a" * 20,
    "antidisestablishmentarianism supercalifragilisticexpialidocious",
    "the the the the the",
    "a photo of a cat sitting on a mat, highly detailed, 4k, trending on artstation",
    "masterpiece, best quality, (detailed:1.2), [background]",
    "snowy mountains, a frozen lake, pine trees",
    " ".join(["a red house beside a lake"] * 20),
    "x" * 200,
    "sunset sunsets sunsetting",
    "a\u00a0non-breaking\u2003em space",
    "zero\u200bwidth",
    "CamelCaseWords and snake_case_words",
]


def main(folder: str, out: str) -> None:
    import transformers
    from transformers import CLIPTokenizer

    result = {
        "description": "Hugging Face transformers CLIPTokenizer ids (padding max_length 77, truncation) over "
                       "resources/models/starter/tokenizer; an independent reference for the engine's tokenizer.",
        "transformers_version": transformers.__version__,
        "cases": [],
    }
    slow = CLIPTokenizer.from_pretrained(folder)
    fast = None
    try:
        from transformers import CLIPTokenizerFast
        fast = CLIPTokenizerFast.from_pretrained(folder, from_slow=True)
    except Exception as e:  # noqa: BLE001 — the reference is optional
        result["fast_error"] = repr(e)
    for s in STRINGS:
        case = {"text": s, "ids": slow(s, padding="max_length", max_length=77, truncation=True)["input_ids"]}
        if fast is not None:
            case["ids_fast"] = fast(s, padding="max_length", max_length=77, truncation=True)["input_ids"]
        result["cases"].append(case)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
    print(f"wrote {len(result['cases'])} cases to {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
