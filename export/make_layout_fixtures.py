"""Tiny packages of the three checkpoint layouts, exported by stream_export.py, with logits golden files from
the PyTorch module, for the C# logits parity tests (tests/MeDlm.Tests/Model/LayoutLogitsTests.cs):

  /usr/bin/python3 export/make_layout_fixtures.py      # rewrites tests/fixtures/packages/layout-* and
                                                       # tests/golden/layouts/*.json (committed)

For each layout (ME-DLM, original LLaDA, Dream with q/k/v biases and GQA 4/2) a random checkpoint in the
real on-disk form (tiny_checkpoints.py: bf16, two shards + model.safetensors.index.json, the real config
keys, tokenizer files) is written to a temporary folder and exported by the streaming exporter at float32
(layout-<layout>). The ME-DLM checkpoint is also exported with int8 and int4 MatMulNBits weights (block 32,
heads quantized: layout-medlm-int8, layout-medlm-int4) and at float16 (layout-medlm-fp16).

Golden files (format medlm-golden-logits/1, export/README.md) hold MeDlmModel.forward in float32 on a short
padded batch of two rows: for the float32 packages the checkpoint's module (tolerance 1e-4); for the int8 /
int4 packages the module with every quantized weight replaced by its quantize -> dequantize round trip (what
MatMulNBits computes; tolerance 1e-4); layout-medlm-fp16 has no golden file of its own: the C# test compares it with layout-medlm's within half
precision.
hidden_states are left out (the C# test compares logits and next_token_logits). The shapes are small
(hidden 32, 2 layers) so packages and golden files stay a few tens of KB each.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

import export_onnx as E
import stream_export as S
import tiny_checkpoints as tc
from tokenizer import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = os.path.join(ROOT, "tests", "fixtures", "packages")
GOLDEN = os.path.join(ROOT, "tests", "golden", "layouts")
SHAPE = dict(layers=2, hidden=32, heads=4, head_dim=8, mlp=64)
# Two short rows of different lengths (the prompt's tokens without the chat template, then masks), right padded.
PROMPTS = ("write sum_gt(xs) with k = 9", "ann has 3 pens")
MASKS = (2, 4)
DIGITS = 6  # significant digits: logits here are below 100, so rounding stays under 1e-4 / 20
# package name -> (layout, stream_export options, golden tolerance)
FIXTURES = {
    "layout-medlm": ("medlm", {}, 1e-4),
    "layout-llada": ("llada", {}, 1e-4),
    "layout-dream": ("dream", {}, 1e-4),
    "layout-medlm-int8": ("medlm", {"weights": "int8", "block_size": 32}, 1e-4),
    "layout-medlm-int4": ("medlm", {"weights": "int4", "block_size": 32}, 1e-4),
    "layout-medlm-fp16": ("medlm", {"dtype": "float16"}, None),
}
BITS = {"int8": 8, "int4": 4}


def dequantized_model(model, bits, block, heads=True):
    """The module with every linear weight replaced by its quantize -> dequantize round trip (stream_export's
    quantize_blocks): what the MatMulNBits graph computes."""
    q = type(model)(model.config)
    q.load_state_dict(model.state_dict())
    with torch.no_grad():
        for name, p in q.named_parameters():
            if p.dim() == 2 and name != "model.embed_tokens.weight" and (heads or "head" not in name):
                w = p.numpy()
                packed, scales = S.quantize_blocks(w, bits, block)
                p.copy_(torch.from_numpy(S.dequantize_blocks(packed, scales, bits, w.shape[1])))
    return q.eval()


def _rounded(a, digits=DIGITS):
    return [[float(f"{x:.{digits}g}") for x in row] for row in np.asarray(a, dtype=np.float64)]


def golden_batch(tok, mask, pad):
    rows = [tok.encode(p) + [mask] * n for p, n in zip(PROMPTS, MASKS)]
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    att = torch.zeros((len(rows), length), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, :len(r)] = torch.tensor(r)
        att[b, :len(r)] = 1
    return ids, att, [len(r) for r in rows]


def write_golden(model, package_dir, out_path, tolerance):
    """MeDlmModel.forward (float32) at the real positions of the short padded batch, in the logits golden format."""
    with open(os.path.join(package_dir, E.MANIFEST), encoding="utf-8") as f:
        manifest = json.load(f)
    tok = Tokenizer.load(os.path.join(package_dir, "tokenizer.json"))
    ids, att, lengths = golden_batch(tok, manifest["special_tokens"]["mask"], manifest["special_tokens"]["pad"])
    with torch.no_grad():
        logits, next_logits, _ = model.float().eval()(ids, att)
    g = {
        "format": E.GOLDEN_FORMAT,
        "package": manifest["name"],
        "denoiser_sha256": E.sha256_file(os.path.join(package_dir, "denoiser.onnx")),
        "tolerance": tolerance,
        "prompts": list(PROMPTS),
        "input_ids": ids.tolist(),
        "attention_mask": att.tolist(),
        "lengths": lengths,
        "logits": [_rounded(logits[b, :n]) for b, n in enumerate(lengths)],
    }
    if "edit_head" in manifest["graphs"]:
        g["edit_head_sha256"] = E.sha256_file(os.path.join(package_dir, "edit_head.onnx"))
        g["next_token_logits"] = [_rounded(next_logits[b, :n]) for b, n in enumerate(lengths)]
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(g, f, separators=(",", ":"))
        f.write("\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--packages", default=PACKAGES, help="folder for the packages (default tests/fixtures/packages)")
    p.add_argument("--golden", default=GOLDEN, help="folder for the golden files (default tests/golden/layouts)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        models = {}
        for layout in ("medlm", "llada", "dream"):
            folder = os.path.join(tmp, layout)
            models[layout] = (folder, tc.write_tiny_checkpoint(folder, layout, seed=1, shards=2, bf16=True, **SHAPE))
        for name, (layout, options, tolerance) in FIXTURES.items():
            folder, model = models[layout]
            out = os.path.join(a.packages, name)
            if os.path.isdir(out):
                shutil.rmtree(out)
            S.export_streaming(folder, out, name=name, gen_length=16, progress_stream=None, **options)
            if options.get("weights") in BITS:
                model = dequantized_model(model, BITS[options["weights"]], options["block_size"])
            size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
            print(f"wrote {out} ({size} bytes)", file=sys.stderr)
            if tolerance is not None:
                golden = os.path.join(a.golden, f"{name}.json")
                write_golden(model, out, golden, tolerance)
                print(f"wrote {golden} ({os.path.getsize(golden)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
