"""Golden tokenizer cases for the C# runtime (tests/golden/tokenizer/*.json).

Run from export/:  python3 golden_tokenizer.py
The reference is export/tokenizer.py (the tokenizer the bundled model was trained with). Besides the
bundled tokenizer.json as-is, a variant with a Llama-3 style pre-tokenizer (Sequence[Split(regex),
ByteLevel(use_regex=false)], merges as [a, b] arrays) is written next to the golden file so the C#
loader's second path is checked against the same reference with that split regex.
"""
import copy
import json
import os
import random

import regex

import tokenizer as tk
from tokenizer import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOKENIZER = os.path.join(ROOT, "onnx", "medlm-tiny", "tokenizer.json")
OUT_DIR = os.path.join(ROOT, "tests", "golden", "tokenizer")

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")

CODE = "def sum_gt(xs):\n    total = 0\n    for x in xs:\n        if x > 9:\n            total += x\n    return total"

CASES = [
    ("chatml_prompt", "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                      "<|im_start|>user\nWrite a function that returns the sum of xs.<|im_end|>\n<|im_start|>assistant\n"),
    ("chatml_user_only", "<|im_start|>user\nWhat is 12 * 7?<|im_end|>\n<|im_start|>assistant\n"),
    ("chatml_answer_with_end", "<|im_start|>assistant\nThe answer is 84.<|im_end|><|endoftext|><|endoftext|>"),
    ("code_indented", CODE),
    ("code_chatml", "<|im_start|>user\nWrite sum_gt.<|im_end|>\n<|im_start|>assistant\n" + CODE + "<|im_end|>"),
    ("math", "If x = 3/4 and y = 2.5, then x*y = 1.875; 12^2 - 5! = 24 and (a+b)^2 = a^2 + 2ab + b^2."),
    ("numbers", "0 1 12 123 1234 12345 1234567890 3.14159 -42 +7 1e10 1,000,000 0x1F 007"),
    ("multiple_spaces", "a  b   c    d     e\n\n\n  f"),
    ("leading_trailing_spaces", "   leading and trailing   "),
    ("tabs", "\tindented\t\ttabs\t \t"),
    ("newlines_crlf", "line one\r\nline two\r\n\r\n\nend\n"),
    ("contractions", "I'm sure you're right, we'll see; they've said it's fine, he'd do it. DON'T SHOUT"),
    ("punctuation", "Hello, world!!! (yes) [no] {maybe} <tag/> a->b && c||d ... ?!"),
    ("unicode_accents", "café naïve résumé Ångström Zürich"),
    ("unicode_cjk", "中文测试：你好，世界。"),
    ("unicode_emoji", "emoji 🙂 and more 👍🏽🎉 family 👨‍👩‍👧 flag 🇫🇷"),
    ("unicode_combining", "e\u0301 a\u0300 n\u0303 Z\u0351\u0300\u0301 o\u0308"),
    ("unicode_mixed", "naïve 中文 🙂 x²+y³ ∑ αβγ Ωmega"),
    ("unicode_spaces", "nbsp\u00a0here em\u2003space ideographic\u3000space"),
    ("supplementary_letters", "math \U0001D400\U0001D401\U0001D402 and a\U0001D400b 𠀀𠀁"),
    ("control_chars", "unit\x1fsep\x1crec\x0bvt\x0cff\x85nel"),
    ("empty", ""),
    ("only_special_tokens", "<|im_start|><|im_end|><|mdm_mask|><|del|><|endoftext|>"),
    ("special_like_unknown", "<|notatoken|>"),
    ("special_like_mixed", "<|im_start|<|im_end|>|><|mdm_mask|>x<|del|"),
    ("masks_in_text", "total = <|mdm_mask|><|mdm_mask|> + <|del|>1"),
    ("single_char", "x"),
    ("single_space", " "),
    ("newline_only", "\n"),
]

# Byte tokens the C# decoder must turn into the same text as Python's errors="replace": half of 🙂, a
# lone continuation byte, a truncated 3-byte sequence before ASCII, overlong forms, an encoded surrogate,
# code points past U+10FFFF, bytes that never occur in UTF-8.
DECODE_ONLY = [
    ("half_emoji", "🙂".encode("utf-8")[:2]),
    ("three_quarters_emoji_then_ascii", "🙂".encode("utf-8")[:3] + b"A"),
    ("lone_continuation", "é".encode("utf-8")[1:]),
    ("truncated_cjk_then_ascii", "中".encode("utf-8")[:2] + b"a"),
    ("overlong_nul", bytes([0xC0, 0x80])),
    ("overlong_three_byte", bytes([0xE0, 0x80, 0x80])),
    ("encoded_surrogate", bytes([0xED, 0xA0, 0x80])),
    ("past_max_code_point", bytes([0xF4, 0x90, 0x80, 0x80])),
    ("never_valid_bytes", bytes([0xFF, 0xFE, 0xF5, 0x41])),
    ("continuations_run", bytes([0x80, 0x80, 0xBF, 0x41])),
    ("valid_between_invalid", bytes([0xE4]) + "ü".encode("utf-8") + bytes([0xF0, 0x9F]) + b"z"),
]


# Random strings over the characters where split regexes and code-point handling disagree most easily:
# letters outside the BMP, emoji (with skin tone and ZWJ), combining marks, CJK, digits, apostrophes
# (contractions, also upper case and U+017F), every kind of whitespace, CR/LF, symbols.
FUZZ_ALPHABET = (list("abcXYZ019 '") + ["'s", "'S", "'ll", "'RE", "'\u017f", "  ", "\t", "\n", "\r\n", "\r", "\u00a0",
                 "\u3000", "\u2028", "\x1c", "\x85", "\u0301", "é", "中", "Ω", "²", "½", "Ⅻ", "\U0001D400",
                 "\U0001D7CE", "\U00020000", "🙂", "👍🏽", "\u200d", "!", "(", ".", "-", "_", "<|", "|>", "$", "€"])
FUZZ_COUNT = 300


def fuzz_texts(seed=20260501):
    rng = random.Random(seed)
    out = []
    for _ in range(FUZZ_COUNT):
        n = rng.randint(0, 14)
        out.append("".join(rng.choice(FUZZ_ALPHABET) for _ in range(n)))
    return out


def pieces(tok, text):
    """Pre-tokenizer output: added tokens whole, the text between them split by tokenizer.SPLIT."""
    out = []
    for chunk in tok._special_split.split(text):
        if not chunk:
            continue
        if chunk in tok.special:
            out.append(chunk)
        else:
            out.extend(tk.SPLIT.findall(chunk))
    return out


def byte_ids(tok, data):
    return [tok.vocab[tk.BYTE_TO_CHAR[b]] for b in data]


def decode_only_cases(tok):
    out = []
    for name, data in DECODE_ONLY:
        ids = byte_ids(tok, data)
        out.append({"name": name, "ids": ids, "decoded": tok.decode(ids)})
    return out


def cases_for(tok):
    out = []
    for name, text in CASES:
        ids = tok.encode(text)
        out.append({"name": name, "text": text, "ids": ids, "pieces": pieces(tok, text),
                    "decoded": tok.decode(ids), "decoded_skip_special": tok.decode(ids, skip_special=True)})
    for k, text in enumerate(fuzz_texts()):
        ids = tok.encode(text)
        out.append({"name": f"fuzz_{k:03d}", "text": text, "ids": ids, "pieces": pieces(tok, text),
                    "decoded": tok.decode(ids), "decoded_skip_special": tok.decode(ids, skip_special=True)})
    return out


def llama3_variant(path):
    """The bundled tokenizer.json with a Llama-3 style pre-tokenizer and array merges."""
    with open(path, encoding="utf-8") as f:
        j = json.load(f)
    j = copy.deepcopy(j)
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    j["model"]["merges"] = [m.split(" ", 1) for m in j["model"]["merges"]]
    return j


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    tok = Tokenizer.load(TOKENIZER)
    golden = golden_file(tok, "onnx/medlm-tiny/tokenizer.json", decode_only_cases(tok))
    write(os.path.join(OUT_DIR, "medlm-tiny.json"), golden)

    variant = llama3_variant(TOKENIZER)
    variant_path = os.path.join(OUT_DIR, "medlm-tiny-llama3-split.tokenizer.json")
    write(variant_path, variant)
    saved = tk.SPLIT
    tk.SPLIT = regex.compile(LLAMA3_SPLIT)  # Tokenizer.encode reads the module-level split regex
    try:
        tok3 = Tokenizer.load(variant_path)
        golden3 = golden_file(tok3, "tests/golden/tokenizer/medlm-tiny-llama3-split.tokenizer.json", [])
    finally:
        tk.SPLIT = saved
    write(os.path.join(OUT_DIR, "medlm-tiny-llama3-split.json"), golden3)


def golden_file(tok, tokenizer_path, decode_only):
    """One golden file: the tokenizer it was made with (repository-relative), its vocabulary and specials, the cases."""
    return {
        "tokenizer": tokenizer_path,
        "vocab_size": tok.vocab_size,
        "special_tokens": tok.special,
        "cases": cases_for(tok),
        "decode_only": decode_only,
    }


def write(path, obj):
    """JSON with one list item (one case) per line, so the golden files stay small and diff well."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n")
        for k, (key, value) in enumerate(obj.items()):
            f.write(f" {json.dumps(key)}: ")
            if isinstance(value, list) and value:
                f.write("[\n" + ",\n".join("  " + json.dumps(v, ensure_ascii=False) for v in value) + "\n ]")
            else:
                f.write(json.dumps(value, ensure_ascii=False))
            f.write(",\n" if k < len(obj) - 1 else "\n")
        f.write("}\n")
    print("wrote", os.path.relpath(path, ROOT))


if __name__ == "__main__":
    main()
