"""Byte-level BPE tokenizer: training on a corpus, encoding/decoding, and Hugging Face tokenizer.json I/O.

The file format is the one real checkpoints ship (model.type BPE, ByteLevel pre-tokenizer with the
GPT-2 split regex, added special tokens), so the C# runtime reads the bundled model and real
checkpoints through the same code path.
"""
import json
from collections import Counter

import regex

# GPT-2's pre-tokenizer split (what the ByteLevel pre-tokenizer with use_regex=true applies).
SPLIT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

SPECIAL_TOKENS = {
    "pad": "<|endoftext|>",  # pad and eos
    "mask": "<|mdm_mask|>",
    "del": "<|del|>",
    "im_start": "<|im_start|>",
    "end": "<|im_end|>",  # end of response
}


def bytes_to_unicode():
    """The reversible byte -> printable character table of byte-level BPE."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table = {}
    extra = 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def _to_symbols(piece):
    return "".join(BYTE_TO_CHAR[b] for b in piece.encode("utf-8"))


class Tokenizer:
    def __init__(self, vocab, merges, special_tokens):
        self.vocab = dict(vocab)  # symbol string -> id (byte-level pieces)
        self.merges = list(merges)  # list of (a, b)
        self.ranks = {pair: i for i, pair in enumerate(self.merges)}
        self.special = dict(special_tokens)  # content -> id
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.id_to_token.update({i: t for t, i in self.special.items()})
        self.special_ids = set(self.special.values())
        self._cache = {}
        if self.special:
            alts = sorted(self.special, key=len, reverse=True)
            self._special_split = regex.compile("(" + "|".join(regex.escape(s) for s in alts) + ")")
        else:
            self._special_split = None

    @property
    def vocab_size(self):
        return max(self.id_to_token) + 1

    def token_id(self, content):
        return self.special[content] if content in self.special else self.vocab[content]

    def _bpe(self, word):
        if word in self._cache:
            return self._cache[word]
        parts = list(word)
        while len(parts) > 1:
            best, best_rank = None, None
            for i in range(len(parts) - 1):
                r = self.ranks.get((parts[i], parts[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best is None:
                break
            parts[best:best + 2] = [parts[best] + parts[best + 1]]
        ids = [self.vocab[p] for p in parts]
        self._cache[word] = ids
        return ids

    def encode(self, text, allow_special=True):
        ids = []
        chunks = self._special_split.split(text) if (allow_special and self._special_split) else [text]
        for chunk in chunks:
            if not chunk:
                continue
            if allow_special and chunk in self.special:
                ids.append(self.special[chunk])
                continue
            for piece in SPLIT.findall(chunk):
                ids.extend(self._bpe(_to_symbols(piece)))
        return ids

    def decode(self, ids, skip_special=False):
        out = bytearray()
        for i in ids:
            i = int(i)
            if i in self.special_ids:
                if not skip_special:
                    out.extend(self.id_to_token[i].encode("utf-8"))
                continue
            out.extend(CHAR_TO_BYTE[c] for c in self.id_to_token[i])
        return out.decode("utf-8", errors="replace")

    # ------------------------------------------------------------ tokenizer.json

    def to_json(self):
        added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True} for t, i in sorted(self.special.items(), key=lambda kv: kv[1])]
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": dict(sorted(self.vocab.items(), key=lambda kv: kv[1])),
                      "merges": [f"{a} {b}" for a, b in self.merges]},
        }

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, ensure_ascii=False, indent=1)
            f.write("\n")

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        model = j["model"]
        if model.get("type") != "BPE":
            raise ValueError(f"{path}: model.type must be BPE")
        merges = []
        for m in model["merges"]:
            a, b = (m.split(" ", 1) if isinstance(m, str) else m)
            merges.append((a, b))
        special = {t["content"]: t["id"] for t in j.get("added_tokens", [])}
        vocab = {t: i for t, i in model["vocab"].items() if t not in special}
        return cls(vocab, merges, special)


def train(texts, num_merges, min_frequency=2, specials=tuple(SPECIAL_TOKENS.values())):
    """Train byte-level BPE on texts (special token strings are split out, never merged)."""
    split_special = regex.compile("(" + "|".join(regex.escape(s) for s in specials) + ")")
    words = Counter()
    for t in texts:
        for chunk in split_special.split(t):
            if chunk and chunk not in specials:
                for piece in SPLIT.findall(chunk):
                    words[_to_symbols(piece)] += 1
    vocab = {BYTE_TO_CHAR[b]: b for b in range(256)}
    seqs = {w: list(w) for w in words}
    merges = []
    for _ in range(num_merges):
        pairs = Counter()
        for w, n in words.items():
            s = seqs[w]
            for i in range(len(s) - 1):
                pairs[(s[i], s[i + 1])] += n
        if not pairs:
            break
        # Most frequent pair; ties broken by the pair itself so training is deterministic.
        (a, b), n = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if n < min_frequency:
            break
        merges.append((a, b))
        vocab[a + b] = len(vocab)
        for w, s in seqs.items():
            i = 0
            while i < len(s) - 1:
                if s[i] == a and s[i + 1] == b:
                    s[i:i + 2] = [a + b]
                i += 1
    special = {s: len(vocab) + k for k, s in enumerate(specials)}
    return Tokenizer(vocab, merges, special)
