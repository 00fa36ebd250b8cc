"""Export a MeDlmModel to a model package (docs/DESIGN.md §3) and write the logits golden file.

A package is a folder: medlm.json (manifest), tokenizer.json, denoiser.onnx (+ denoiser.onnx.data when
the weights go to external data) and, for ME-DLM models, edit_head.onnx. The graph I/O names, element
types and symbolic dims are the contract the C# runtime codes against.

  # the bundled model, with the golden file the C# parity test compares against
  python3 export/export_onnx.py --checkpoint export/runs/tiny/edit.pt \\
      --tokenizer onnx/medlm-tiny/tokenizer.json --out onnx/medlm-tiny --verify \\
      --golden tests/golden/medlm-tiny/logits.json
  # a Hugging Face checkpoint folder (ME-DLM-Stage3 layout, or original LLaDA with --no-edit-head)
  python3 export/export_onnx.py --hf-checkpoint DIR --out onnx/me-dlm-stage3 --name me-dlm-stage3 --fp16
"""
import argparse
import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F


import bundle
import decoding
from model import MeDlmConfig, MeDlmModel
from tokenizer import SPECIAL_TOKENS, Tokenizer

OPSET = 17
FORMAT = "medlm-package/1"
GOLDEN_FORMAT = "medlm-golden-logits/1"
MANIFEST = "medlm.json"
EXTERNAL_LIMIT = int(1.8e9)  # protobuf refuses messages over 2 GB; keep a margin for the graph itself
CHAT_TEMPLATE = bundle.CHAT_TEMPLATE
# Manifest key -> tokenizer.SPECIAL_TOKENS key; this order is also the order of the topk graph's special_logits.
SPECIAL_ORDER = (("mask", "mask"), ("pad", "pad"), ("delete", "del"), ("end", "end"))
GOLDEN_PROMPTS = ("write sum_gt(xs) with k = 9", "ann has 3 pens and gets 5 more. how many pens now?")
GOLDEN_MASKS = (3, 8)  # different mask counts too, so the rows differ in length by several positions

BATCH_SEQ = {0: "batch", 1: "seq"}
ARCHITECTURES = ("medlm", "llada", "dream")  # medlm: with edit head; llada, dream: stage 1 only
# The manifest's context: the model's own, capped (Dream's config says 131072; nothing here runs that long,
# and the runtime sizes buffers from it). --max-seq-len overrides.
DEFAULT_MAX_SEQ_LEN = 4096


# ---------------------------------------------------------------- graph wrappers


class Denoiser(nn.Module):
    """Backbone + current-token head: (logits, hidden_states); the edit head lives in its own graph."""

    def __init__(self, model):
        super().__init__()
        self.model = model.model
        self.lm_head = model.lm_head

    def forward(self, input_ids, attention_mask):
        h = self.model(input_ids, attention_mask)
        return self.lm_head(h), h


class TopKDenoiser(nn.Module):
    """Denoiser whose vocab-sized output is reduced in the graph, so a step copies K + S + 1 floats per
    position to the host instead of vocab. Reductions run in float32 (a float16 log-sum-exp over a
    126k vocabulary would lose about 1e-2).

    The log-sum-exp is taken over the tokens OUTSIDE the top K (`logsumexp_rest`), not over the whole
    row: the full one is a float32 number near 10-20 whose rounding (~1e-6) moves confidences near 1 by
    as much as the gaps that rank them, while top-K logits + the rest's log-sum-exp give the softmax
    denominator to ~1e-7 of the small outside share. The full value is one logaddexp away; the runtime
    also reads a graph with a full-row `logsumexp` output (the contract's original form)."""

    def __init__(self, model, k, special_ids):
        super().__init__()
        self.model = model.model
        self.lm_head = model.lm_head
        self.k = k
        self.register_buffer("special", torch.tensor(special_ids, dtype=torch.long), persistent=False)

    def forward(self, input_ids, attention_mask):
        h = self.model(input_ids, attention_mask)
        logits = self.lm_head(h).float()
        topk_logits, topk_ids = torch.topk(logits, self.k, dim=-1)
        rest = torch.logsumexp(logits.scatter(-1, topk_ids, float("-inf")), dim=-1)
        special = torch.index_select(logits, -1, self.special)
        return topk_ids, topk_logits, rest, special, h


class EditHead(nn.Module):
    """Only the next-token head: hidden_states -> next_token_logits."""

    def __init__(self, model):
        super().__init__()
        self.next_token_head = model.next_token_head

    def forward(self, hidden_states):
        return self.next_token_head(hidden_states)


# ---------------------------------------------------------------- float16 on CPU

_linear, _matmul, _silu = F.linear, torch.matmul, F.silu


class _HalfLinear(torch.autograd.Function):
    """CPU PyTorch 1.13 has no float16 matmul, so tracing a .half() model fails; this computes in float32
    while tracing but emits a plain float16 MatMul into the graph."""

    @staticmethod
    def forward(ctx, x, w, b):
        return _linear(x.float(), w.float(), None if b is None else b.float()).to(x.dtype)

    @staticmethod
    def symbolic(g, x, w, b):
        y = g.op("MatMul", x, g.op("Transpose", w, perm_i=[1, 0]))
        return y if b is None or b.node().mustBeNone() else g.op("Add", y, b)


class _HalfMatMul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b):
        return _matmul(a.float(), b.float()).to(a.dtype)

    @staticmethod
    def symbolic(g, a, b):
        return g.op("MatMul", a, b)


class _HalfSilu(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return _silu(x.float()).to(x.dtype)

    @staticmethod
    def symbolic(g, x):
        return g.op("Mul", x, g.op("Sigmoid", x))


def _linear16(x, w, b=None):
    if x.dtype != torch.float16:
        return _linear(x, w, b)
    return _HalfLinear.apply(x, w, b)


def _matmul16(a, b):
    return _HalfMatMul.apply(a, b) if a.dtype == torch.float16 else _matmul(a, b)


def _silu16(x, inplace=False):
    return _HalfSilu.apply(x) if x.dtype == torch.float16 else _silu(x, inplace)


@contextlib.contextmanager
def half_cpu_ops():
    """Swap in the three float16 ops CPU PyTorch lacks (linear, matmul, silu) for the duration of an export."""
    F.linear, torch.matmul, F.silu = _linear16, _matmul16, _silu16
    try:
        yield
    finally:
        F.linear, torch.matmul, F.silu = _linear, _matmul, _silu


# ---------------------------------------------------------------- writing graphs


def _external_tensors(proto):
    for t in proto.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            yield t


def _consolidate_external(proto, src_dir, data_path):
    """Torch writes a >2 GB model as one file per tensor; stream them into one data file (64-byte aligned)."""
    location = os.path.basename(data_path)
    with open(data_path, "wb") as out:
        for t in _external_tensors(proto):
            info = {e.key: e.value for e in t.external_data}
            with open(os.path.join(src_dir, info["location"]), "rb") as f:
                f.seek(int(info.get("offset", 0)))
                data = f.read(int(info["length"])) if "length" in info else f.read()
            pad = (-out.tell()) % 64
            out.write(b"\0" * pad)
            offset = out.tell()
            out.write(data)
            del t.external_data[:]
            for k, v in (("location", location), ("offset", str(offset)), ("length", str(len(data)))):
                e = t.external_data.add()
                e.key, e.value = k, v


def export_graph(module, args, path, input_names, output_names, external_data=False):
    """torch.onnx.export with the contract's settings, then save inline or with one external data file."""
    out_dir = os.path.dirname(os.path.abspath(path))
    data_name = os.path.basename(path) + ".data"
    data_path = os.path.join(out_dir, data_name)
    if os.path.exists(data_path):
        os.remove(data_path)
    dynamic_axes = {n: BATCH_SEQ for n in list(input_names) + list(output_names)}
    half = any(p.dtype == torch.float16 for p in module.parameters())
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        tmp_path = os.path.join(tmp, "model.onnx")
        with torch.no_grad(), warnings.catch_warnings(), (half_cpu_ops() if half else contextlib.nullcontext()):
            # torch 1.13 flags g.op() in custom symbolics as deprecated; it is the documented way (and stays in 2.x)
            warnings.filterwarnings("ignore", message=".*_graph_op.*", category=FutureWarning)
            torch.onnx.export(module, args, tmp_path, input_names=list(input_names), output_names=list(output_names),
                              dynamic_axes=dynamic_axes, opset_version=OPSET,
                              # no folding: weights keep their parameter names (ORT folds the transposes
                              # at load), so the package alone rebuilds the PyTorch model (model_from_package)
                              do_constant_folding=False)
        proto = onnx.load(tmp_path, load_external_data=False)
        if any(True for _ in _external_tensors(proto)):
            _consolidate_external(proto, tmp, data_path)
            onnx.save_model(proto, path)
        elif external_data:
            onnx.save_model(proto, path, save_as_external_data=True, all_tensors_to_one_file=True, location=data_name)
        else:
            onnx.save_model(proto, path)
    onnx.checker.check_model(path, full_check=True)
    return data_name if os.path.exists(data_path) else None


def parameter_bytes(module):
    return sum(p.numel() * p.element_size() for p in module.parameters())


# ---------------------------------------------------------------- manifest


def special_tokens(tok):
    """Manifest special ids from the tokenizer; delete/end may be missing in a plain LLaDA tokenizer."""
    if all(SPECIAL_TOKENS[k] in tok.special or SPECIAL_TOKENS[k] in tok.vocab for _, k in SPECIAL_ORDER):
        ids = bundle.special_ids(tok)
        out = {"mask": ids.mask, "pad": ids.pad, "delete": ids.delete, "end": ids.end}
    else:
        out = {}
        for key, name in SPECIAL_ORDER:
            content = SPECIAL_TOKENS[name]
            if content in tok.special or content in tok.vocab:
                out[key] = tok.token_id(content)
    out["eos"] = out.get("pad")
    return out


def build_manifest(name, cfg: MeDlmConfig, specials, dtype, has_edit_head, denoiser_entry, edit_entry,
                   gen_length, budget=1.0, edit_share=0.25, architecture=None, max_seq_len=None):
    graphs = {"denoiser": denoiser_entry}
    if has_edit_head:
        graphs["edit_head"] = edit_entry
    architecture = architecture or ("medlm" if has_edit_head else "llada")
    cap = max_seq_len or DEFAULT_MAX_SEQ_LEN
    return {
        "format": FORMAT,
        "name": name,
        "architecture": architecture,
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "max_sequence_length": min(cfg.max_position_embeddings, cap),
        "shifted_logits": architecture == "dream",
        "dtype": dtype,
        "special_tokens": specials,
        "chat_template": dict(CHAT_TEMPLATE),
        "graphs": graphs,
        "generation": {"gen_length": gen_length, "budget": budget, "edit_share": edit_share if has_edit_head else 0.0,
                       "algorithm": "entropy" if architecture == "dream" else "medlm",  # Dream: one of its own algorithms
                       "block_length": gen_length, "temperature": 0.0},
        "model": cfg.to_dict(),
    }


# generation.auto (docs/DESIGN.md §2.11): written by `medlm eval --write-auto`, read by ModelManifest with these rules.
AUTO_KEYS = ("algorithm", "budget", "mask_steps", "block_length", "threshold", "edit_rounds", "edit_threshold",
             "switch_threshold")
LLADA_ALGORITHMS = ("medlm", "low_confidence", "random", "threshold")


def validate_auto(auto, architecture, has_edit_head, gen_length):
    """Raise ValueError on a generation.auto setting the C# runtime would refuse."""
    if not isinstance(auto, dict):
        raise ValueError("generation.auto must be an object")
    unknown = [k for k in auto if k not in AUTO_KEYS]
    if unknown:
        raise ValueError(f"generation.auto.{unknown[0]} is not an auto setting key (use {', '.join(AUTO_KEYS)})")
    dream = architecture == "dream"
    names = decoding.DREAM_ALGORITHMS if dream else LLADA_ALGORITHMS
    alg = str(auto.get("algorithm", "")).strip().lower()  # as DecodingAlgorithms.TryParse: the name, or without underscores
    if alg not in names and alg not in [n.replace("_", "") for n in names]:
        raise ValueError(f"generation.auto.algorithm {auto.get('algorithm')!r} is not one of {', '.join(names)}")

    def number(key, ok, rule):
        v = auto.get(key)
        if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and ok(v)):
            raise ValueError(f"generation.auto.{key} {v!r} {rule}")
        return v

    number("budget", lambda v: 0 < v <= 1, "must be in (0, 1]")
    number("threshold", lambda v: 0 < v <= 1, "must be in (0, 1]")
    whole = lambda v: v == int(v)  # noqa: E731
    rounds = number("edit_rounds", lambda v: v >= 0 and whole(v), "must be a whole number >= 0")
    gate = number("edit_threshold", lambda v: 0 <= v <= 1, "must be in [0, 1]")
    switch = number("switch_threshold", lambda v: 0 <= v <= 1, "must be in [0, 1]")
    steps = number("mask_steps", lambda v: v >= 1 and whole(v) and (gen_length is None or v <= gen_length),
                   f"must be a whole number in 1..{gen_length}")
    block = number("block_length", lambda v: v >= 1 and whole(v) and (gen_length is None or gen_length % v == 0),
                   f"must divide gen_length {gen_length}")
    if (rounds or gate) and not has_edit_head:
        raise ValueError("generation.auto.edit_rounds and edit_threshold need an edit head")
    if switch and (dream or alg == "random"):
        raise ValueError(f"generation.auto.switch_threshold does not apply to algorithm {alg!r}")
    return steps, block


def validate_manifest(m, folder=None):
    """Raise ValueError on a manifest the C# runtime could not use; with folder, also check the graphs' dims."""
    for key in ("format", "name", "architecture", "vocab_size", "hidden_size", "max_sequence_length",
                "shifted_logits", "dtype", "special_tokens", "chat_template", "graphs", "generation"):
        if key not in m:
            raise ValueError(f"manifest lacks {key!r}")
    if m["format"] != FORMAT:
        raise ValueError(f"format {m['format']!r}")
    if m["architecture"] not in ARCHITECTURES:
        raise ValueError(f"architecture {m['architecture']!r}")
    if m["shifted_logits"] != (m["architecture"] == "dream"):
        raise ValueError("shifted_logits is true exactly for architecture dream")
    if m["dtype"] not in ("float32", "float16"):
        raise ValueError(f"dtype {m['dtype']!r}")
    st = m["special_tokens"]
    needed = ("mask", "pad", "delete", "end", "eos") if m["architecture"] == "medlm" else ("mask", "pad", "eos")
    for k in needed:
        if not isinstance(st.get(k), int) or not 0 <= st[k] < m["vocab_size"]:
            raise ValueError(f"special token {k!r} = {st.get(k)!r} not an id below vocab_size {m['vocab_size']}")
    for k in ("system", "user", "assistant", "generation_prompt"):
        if k not in m["chat_template"]:
            raise ValueError(f"chat_template lacks {k!r}")
    g = m["graphs"]
    if "denoiser" not in g or g["denoiser"].get("outputs") not in ("full", "topk"):
        raise ValueError("graphs.denoiser missing or its outputs not full/topk")
    if g["denoiser"]["outputs"] == "topk" and not 0 < int(g["denoiser"].get("topk", 0)) <= m["vocab_size"]:
        raise ValueError("graphs.denoiser.topk must be in 1..vocab_size")
    if "edit_head" in g and g["edit_head"].get("outputs", "full") not in ("full", "argmax"):
        raise ValueError("graphs.edit_head.outputs must be full or argmax")
    if (m["architecture"] == "medlm") != ("edit_head" in g):
        raise ValueError("an edit_head graph exactly when architecture is medlm")
    gen = m["generation"]
    for key in ("edit_threshold", "switch_threshold"):  # docs/DESIGN.md §2.3, §2.6; 0 = off
        v = gen.get(key)
        if v is not None and not (isinstance(v, (int, float)) and 0 <= v <= 1):
            raise ValueError(f"generation.{key} {v!r} must be in [0, 1]")
    rounds = gen.get("edit_rounds")
    if rounds is not None and not (isinstance(rounds, int) and rounds >= 0):
        raise ValueError(f"generation.edit_rounds {rounds!r} must be a whole number >= 0")
    if "edit_head" not in g and (gen.get("edit_threshold") or rounds):
        raise ValueError("generation.edit_threshold and edit_rounds need an edit head")
    if gen.get("auto") is not None:
        validate_auto(gen["auto"], m["architecture"], "edit_head" in g, gen.get("gen_length"))
    if folder is not None:
        d = onnx.load(os.path.join(folder, g["denoiser"]["file"]), load_external_data=False)
        dims = {o.name: [x.dim_value or x.dim_param for x in o.type.tensor_type.shape.dim] for o in d.graph.output}
        vocab_out = "logits" if g["denoiser"]["outputs"] == "full" else None
        if vocab_out and dims[vocab_out][-1] != m["vocab_size"]:
            raise ValueError(f"denoiser logits vocab dim {dims[vocab_out][-1]} != vocab_size {m['vocab_size']}")
        if dims["hidden_states"][-1] != m["hidden_size"]:
            raise ValueError("denoiser hidden dim != hidden_size")
        if "edit_head" in g:
            e = onnx.load(os.path.join(folder, g["edit_head"]["file"]), load_external_data=False)
            names = [o.name for o in e.graph.output]
            if g["edit_head"].get("outputs", "full") == "argmax":
                if names != ["next_token_ids", "next_token_prob"]:
                    raise ValueError(f"edit head argmax form must output next_token_ids, next_token_prob, not {names}")
            elif e.graph.output[0].type.tensor_type.shape.dim[-1].dim_value != m["vocab_size"]:
                raise ValueError("edit head vocab dim != vocab_size")


# ---------------------------------------------------------------- the package


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_package(model, tokenizer_path, out, name, fp16=False, external_data=False, topk=None,
                   edit_head=True, gen_length=bundle.GEN_LENGTH, budget=1.0, edit_share=0.25, architecture=None,
                   specials=None, max_seq_len=None):
    """Write the package folder; returns the manifest. The model is not modified (a copy is halved).
    specials: the manifest's special ids (default: the ME-DLM tokens looked up in the tokenizer)."""
    os.makedirs(out, exist_ok=True)
    cfg = model.config
    if specials is None:
        specials = special_tokens(Tokenizer.load(tokenizer_path))
    if architecture == "dream" and edit_head:
        raise ValueError("a Dream model has no edit head")
    for k, v in specials.items():
        if v is not None and v >= cfg.vocab_size:
            raise ValueError(f"special token {k} = {v} is outside the model's vocab ({cfg.vocab_size})")
    if edit_head and (specials.get("delete") is None or specials.get("end") is None):
        raise ValueError("an edit-head package needs <|del|> and <|im_end|> in the tokenizer (or use --no-edit-head)")
    model = model.eval()
    if fp16:
        model = _half_copy(model)
    external = external_data or parameter_bytes(model) > EXTERNAL_LIMIT

    # Example inputs: a right-padded batch; any content works (no data-dependent control flow).
    ids = torch.full((2, 8), specials["mask"], dtype=torch.long)
    att = torch.ones((2, 8), dtype=torch.long)
    att[1, 5:] = 0
    ids[1, 5:] = specials["pad"]
    for f in ("denoiser.onnx", "denoiser.onnx.data", "edit_head.onnx", "edit_head.onnx.data"):
        if os.path.exists(os.path.join(out, f)):
            os.remove(os.path.join(out, f))
    if topk:
        if not 0 < topk <= cfg.vocab_size:
            raise ValueError(f"--topk {topk} must be in 1..{cfg.vocab_size}")
        order = [specials[k] for k, _ in SPECIAL_ORDER if specials.get(k) is not None]
        module = TopKDenoiser(model, topk, order)
        outputs = ("topk_ids", "topk_logits", "logsumexp_rest", "special_logits", "hidden_states")
        entry = {"file": "denoiser.onnx", "outputs": "topk", "topk": topk, "special_ids": order}
    else:
        module = Denoiser(model)
        outputs = ("logits", "hidden_states")
        entry = {"file": "denoiser.onnx", "outputs": "full"}
    data = export_graph(module, (ids, att), os.path.join(out, "denoiser.onnx"), ("input_ids", "attention_mask"),
                        outputs, external)
    if data:
        entry["external_data"] = data
    edit_entry = None
    if edit_head:
        h = torch.zeros((2, 8, cfg.hidden_size), dtype=torch.float16 if fp16 else torch.float32)
        edit_entry = {"file": "edit_head.onnx"}
        data = export_graph(EditHead(model), (h,), os.path.join(out, "edit_head.onnx"), ("hidden_states",),
                            ("next_token_logits",), external_data or parameter_bytes(model.next_token_head) > EXTERNAL_LIMIT)
        if data:
            edit_entry["external_data"] = data
    if os.path.abspath(tokenizer_path) != os.path.abspath(os.path.join(out, "tokenizer.json")):
        shutil.copyfile(tokenizer_path, os.path.join(out, "tokenizer.json"))
    manifest = build_manifest(name, cfg, specials, "float16" if fp16 else "float32", edit_head, entry, edit_entry,
                              gen_length, budget, edit_share, architecture, max_seq_len)
    validate_manifest(manifest, out)
    with open(os.path.join(out, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return manifest


def _half_copy(model):
    m = MeDlmModel(model.config)
    m.load_state_dict(model.state_dict())
    return m.half().eval()


# ---------------------------------------------------------------- golden file


def golden_batch(tok, specials, prompts=GOLDEN_PROMPTS, masks=GOLDEN_MASKS):
    """Two chat-template prompts followed by masks, right padded with pad and attention_mask 0."""
    rows = [bundle.encode_prompt(tok, p) + [specials["mask"]] * n for p, n in zip(prompts, masks)]
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), specials["pad"], dtype=torch.long)
    att = torch.zeros((len(rows), length), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, :len(r)] = torch.tensor(r)
        att[b, :len(r)] = 1
    return ids, att, [len(r) for r in rows]


def _rounded(a, digits=7):
    """Floats with `digits` significant digits: enough for a 1e-4 comparison of logits up to ~100."""
    return [[float(f"{x:.{digits}g}") for x in row] for row in np.asarray(a, dtype=np.float64)]


def write_golden(model, package_dir, out_path):
    """PyTorch outputs (MeDlmModel.forward, float32) at the real positions of a fixed padded batch."""
    with open(os.path.join(package_dir, MANIFEST), encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest["dtype"] != "float32" or manifest["graphs"]["denoiser"]["outputs"] != "full":
        raise ValueError("the golden file is for float32 packages with full-form outputs")
    tok = Tokenizer.load(os.path.join(package_dir, "tokenizer.json"))
    ids, att, lengths = golden_batch(tok, manifest["special_tokens"])
    model = model.float().eval()
    with torch.no_grad():
        logits, next_logits, hidden = model(ids, att)
    g = {
        "format": GOLDEN_FORMAT,
        "package": manifest["name"],
        "denoiser_sha256": sha256_file(os.path.join(package_dir, "denoiser.onnx")),
        "tolerance": 1e-4,
        "prompts": list(GOLDEN_PROMPTS),
        "input_ids": ids.tolist(),
        "attention_mask": att.tolist(),
        "lengths": lengths,
        "logits": [_rounded(logits[b, :n]) for b, n in enumerate(lengths)],
        "hidden_states": [_rounded(hidden[b, :n]) for b, n in enumerate(lengths)],
    }
    if "edit_head" in manifest["graphs"]:
        g["edit_head_sha256"] = sha256_file(os.path.join(package_dir, manifest["graphs"]["edit_head"]["file"]))
        g["next_token_logits"] = [_rounded(next_logits[b, :n]) for b, n in enumerate(lengths)]
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(g, f, separators=(",", ":"))
        f.write("\n")
    return g


# ---------------------------------------------------------------- verification without onnxruntime


def verify_package(model, package_dir):
    """Run the exported graphs with the numpy interpreter (onnx_numpy.py) on the golden batch and return the
    max abs difference to MeDlmModel.forward per output. Float16 packages are compared to the float32 model."""
    import onnx_numpy

    with open(os.path.join(package_dir, MANIFEST), encoding="utf-8") as f:
        manifest = json.load(f)
    tok = Tokenizer.load(os.path.join(package_dir, "tokenizer.json"))
    ids, att, lengths = golden_batch(tok, manifest["special_tokens"])
    with torch.no_grad():
        ref_logits, ref_next, ref_h = [t.float().numpy() for t in model.float().eval()(ids, att)]
    g = manifest["graphs"]
    den = onnx_numpy.run(os.path.join(package_dir, g["denoiser"]["file"]),
                         {"input_ids": ids.numpy(), "attention_mask": att.numpy()})
    diffs = {}

    def diff(name, got, ref):
        diffs[name] = max(float(np.abs(got[b, :n].astype(np.float64) - ref[b, :n]).max())
                          for b, n in enumerate(lengths))

    diff("hidden_states", den["hidden_states"], ref_h)
    if g["denoiser"]["outputs"] == "full":
        diff("logits", den["logits"], ref_logits)
    else:
        k = g["denoiser"]["topk"]
        ref_top = -np.sort(-ref_logits, axis=-1)[..., :k]
        diff("topk_logits", den["topk_logits"], ref_top)
        picked = np.take_along_axis(ref_logits, den["topk_ids"], axis=-1)
        diff("topk_ids(logits at)", picked, ref_top)
        outside = ref_logits.astype(np.float64)
        np.put_along_axis(outside, den["topk_ids"], -np.inf, axis=-1)
        m = outside.max(-1, keepdims=True)
        lse = np.log(np.exp(outside - m).sum(-1)) + m[..., 0]
        diff("logsumexp_rest", den["logsumexp_rest"][..., None], lse[..., None])
        diff("special_logits", den["special_logits"], ref_logits[..., g["denoiser"]["special_ids"]])
    if "edit_head" in g:
        e = onnx_numpy.run(os.path.join(package_dir, g["edit_head"]["file"]), {"hidden_states": den["hidden_states"]})
        diff("next_token_logits", e["next_token_logits"], ref_next)
    return diffs


# ---------------------------------------------------------------- loading models


def model_from_package(folder):
    """Rebuild the PyTorch MeDlmModel from a float32 package alone: the config from medlm.json and the
    weights from the graphs' initializers, which keep their parameter names (export without folding).
    The PyTorch reference decoders (bench, eval) then run on exactly the weights the runtime runs."""
    import numpy as np
    from onnx import numpy_helper

    with open(os.path.join(folder, "medlm.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    model = MeDlmModel(MeDlmConfig.from_dict(manifest["model"]))
    params = dict(model.named_parameters())
    found = {}
    graphs = [manifest["graphs"]["denoiser"]["file"]]
    if "edit_head" in manifest["graphs"]:
        graphs.append(manifest["graphs"]["edit_head"]["file"])
    for g in graphs:
        proto = onnx.load(os.path.join(folder, g))
        for init in proto.graph.initializer:
            if init.name in params:
                found[init.name] = np.array(numpy_helper.to_array(init), dtype=np.float32)
    missing = sorted(set(params) - set(found) - ({"next_token_head.weight"} if len(graphs) == 1 else set()))
    if missing:
        raise ValueError(f"{folder}: no initializer for {missing[:5]} (exported with constant folding?)")
    with torch.no_grad():
        for name, arr in found.items():
            if tuple(arr.shape) != tuple(params[name].shape):
                raise ValueError(f"{folder}: {name} has shape {arr.shape}, model.py expects {tuple(params[name].shape)}")
            params[name].copy_(torch.from_numpy(arr))
    return model.eval()


def model_from_hf(folder):
    """MeDlmModel from a Hugging Face folder; returns (model, has_edit_head)."""
    model, has_edit, _ = model_and_layout_from_hf(folder)
    return model, has_edit


def model_and_layout_from_hf(folder):
    """(MeDlmModel, has_edit_head, layout) from a Hugging Face folder of any safetensors_io.LAYOUTS."""
    import safetensors_io

    layout = safetensors_io.inspect_checkpoint(folder)[0]
    cfg, state = safetensors_io.load_hf_checkpoint(folder)
    with safetensors_io.no_init():
        model = MeDlmModel(cfg)
    params = dict(model.named_parameters())
    unexpected = sorted(set(state) - set(params))
    missing = sorted(set(params) - set(state))
    if unexpected:
        raise ValueError(f"unexpected tensors in {folder}: {unexpected[:5]}")
    if [m for m in missing if m != "next_token_head.weight"]:
        raise ValueError(f"missing tensors in {folder}: {missing[:5]}")
    for name, t in state.items():  # assign, not copy: peak memory stays one copy of the weights
        if tuple(t.shape) != tuple(params[name].shape):
            raise ValueError(f"{name}: shape {tuple(t.shape)} in {folder}, {tuple(params[name].shape)} in model.py")
        params[name].data = t
    state.clear()
    return model.eval(), "next_token_head.weight" not in missing, layout


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="a .pt written by bundle.save_checkpoint (train.py)")
    src.add_argument("--hf-checkpoint", help="a Hugging Face folder: config.json + *.safetensors (+ tokenizer.json)")
    src.add_argument("--package", help="an exported float32 package, re-exported (e.g. in the top-K form, or fp16)")
    p.add_argument("--tokenizer", help="tokenizer.json (default: next to the checkpoint)")
    p.add_argument("--out", required=True, help="package folder to write")
    p.add_argument("--name", help="manifest name (default: the out folder's name)")
    p.add_argument("--fp16", action="store_true", help="float16 weights and outputs (inputs stay int64)")
    p.add_argument("--external-data", action="store_true", help="weights in denoiser.onnx.data (automatic > 1.8 GB)")
    p.add_argument("--topk", type=int, help="denoiser outputs top-K ids/logits + logsumexp + special logits")
    p.add_argument("--no-edit-head", action="store_true", help="stage-1-only package (plain LLaDA)")
    p.add_argument("--gen-length", type=int, default=bundle.GEN_LENGTH, help="generation.gen_length default")
    p.add_argument("--budget", type=float, default=1.0, help="generation.budget default")
    p.add_argument("--edit-share", type=float, default=0.25, help="generation.edit_share default")
    p.add_argument("--max-seq-len", type=int, help=f"cap of max_sequence_length (default {DEFAULT_MAX_SEQ_LEN})")
    p.add_argument("--golden", help="also write the logits golden file here (float32, full outputs)")
    p.add_argument("--verify", action="store_true", help="run the graphs with the numpy interpreter and compare")
    a = p.parse_args(argv)

    architecture, specials = None, None
    if a.checkpoint:
        model, _ = bundle.load_checkpoint(a.checkpoint)
        has_edit = True
        tok_path = a.tokenizer or os.path.join(os.path.dirname(a.checkpoint), "tokenizer.json")
    elif a.package:
        model = model_from_package(a.package)
        tok_path = a.tokenizer or os.path.join(a.package, "tokenizer.json")
        with open(os.path.join(a.package, "medlm.json"), encoding="utf-8") as f:
            if "edit_head" not in json.load(f)["graphs"] and not a.no_edit_head:
                sys.exit(f"{a.package} has no edit head: export it with --no-edit-head")
    else:
        import safetensors_io

        model, has_edit, layout = model_and_layout_from_hf(a.hf_checkpoint)
        tok_path = a.tokenizer or os.path.join(a.hf_checkpoint, "tokenizer.json")
        if layout == "dream":
            architecture, a.no_edit_head = "dream", True
            specials = safetensors_io.special_token_ids(a.hf_checkpoint, tok_path)
        elif not has_edit and not a.no_edit_head:
            sys.exit(f"{a.hf_checkpoint} has no next_token_head: export it with --no-edit-head")
    name = a.name or os.path.basename(os.path.normpath(a.out))
    manifest = export_package(model, tok_path, a.out, name, fp16=a.fp16, external_data=a.external_data, topk=a.topk,
                              edit_head=not a.no_edit_head, gen_length=a.gen_length, budget=a.budget,
                              edit_share=a.edit_share, architecture=architecture, specials=specials,
                              max_seq_len=a.max_seq_len)
    print(f"wrote {a.out}: {manifest['architecture']} {manifest['dtype']} vocab {manifest['vocab_size']} "
          f"graphs {', '.join(manifest['graphs'])}")
    if a.package:
        carry_auto(a.package, a.out)
    if a.verify:
        diffs = verify_package(model, a.out)
        print("max abs diff vs PyTorch: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
        limit = 5e-2 if a.fp16 else 1e-4
        if max(diffs.values()) > limit:
            sys.exit(f"verification failed: difference above {limit}")
    if a.golden:
        write_golden(model, a.out, a.golden)
        print(f"wrote {a.golden} ({os.path.getsize(a.golden)} bytes)")


def carry_auto(source, out):
    """A re-exported package keeps its source's measured generation.auto (medlm eval --write-auto) when it is
    still valid for the new package."""
    with open(os.path.join(source, MANIFEST), encoding="utf-8") as f:
        auto = json.load(f)["generation"].get("auto")
    if auto is None:
        return
    path = os.path.join(out, MANIFEST)
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    manifest["generation"]["auto"] = auto
    try:
        validate_manifest(manifest)
    except ValueError as e:
        print(f"generation.auto of {source} not carried over: {e}", file=sys.stderr)
        return
    with open(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
