"""Golden files that pin the C# Dream decoder to decoding.dream_generate, token for token.

  python3 export/golden_dream.py --out-package tests/fixtures/packages/tiny-dream \
      --out tests/golden/tiny-dream/decoders.json

Writes the tiny random Dream-layout checkpoint (tiny_checkpoints, seed 0) to a temporary folder, exports
it as a package (export_onnx --hf-checkpoint), sets the package's Dream generation defaults, and runs the
cases on the PyTorch module. Rows of one case run as ONE right-padded batch of mixed prompt lengths.
File layout: golden_decoders.py.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

import torch

import decoding
import export_onnx
import golden_decoders
import tiny_checkpoints
from tokenizer import Tokenizer

G = 32
# Dream's own defaults are alg origin, 512 steps, eps 1e-3; a package states what suits its model
# (budget 0.5: G / 2 steps).
DREAM_DEFAULTS = {"gen_length": G, "budget": 0.5, "edit_share": 0.0, "algorithm": "maskgit_plus", "eps": 1e-3,
                  "temperature": 0.0, "top_p": 1.0, "top_k": 0, "alg_temp": 0.0}
PROMPTS = ("write sum_gt(xs) with k = 9", "ann has 3 pens and gets 5 more. how many pens now?", "def f")


def cases():
    return [
        ("dream_maskgit_plus", {"alg": "maskgit_plus", "steps": 16}),
        ("dream_maskgit_plus_one_per_step", {"alg": "maskgit_plus", "steps": G}),
        ("dream_topk_margin", {"alg": "topk_margin", "steps": 8}),
        ("dream_entropy", {"alg": "entropy", "steps": 12}),
        ("dream_entropy_top_p", {"alg": "entropy", "steps": 10, "top_p": 0.9}),
        ("dream_maskgit_plus_top_k", {"alg": "maskgit_plus", "steps": 7, "top_k": 5}),
        ("dream_entropy_alg_temp_0", {"alg": "entropy", "steps": 9, "alg_temp": 0.0}),
        ("dream_sampled", {"alg": "maskgit_plus", "steps": 8, "temperature": 0.8, "top_p": 0.95, "seeds": [1, 2, 3]}),
        ("dream_sampled_top_k", {"alg": "topk_margin", "steps": 8, "temperature": 1.2, "top_k": 6, "seeds": [4, 5, 6]}),
        ("dream_alg_temp", {"alg": "entropy", "steps": 8, "alg_temp": 0.5, "temperature": 0.2, "top_p": 0.95,
                            "seeds": [7, 8, 9]}),
        ("dream_origin", {"alg": "origin", "steps": 6, "seeds": [10, 11, 12]}),
        ("dream_origin_sampled", {"alg": "origin", "steps": 5, "temperature": 0.7, "top_p": 0.9, "seeds": [13, 14, 15]}),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out-package", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        ck = os.path.join(tmp, "tiny-dream")
        tiny_checkpoints.write_tiny_checkpoint(ck, "dream", seed=0, shards=1)
        subprocess.run([sys.executable, os.path.join(HERE, "export_onnx.py"), "--hf-checkpoint", ck,
                        "--out", args.out_package, "--verify"], check=True)
        model, _, _ = export_onnx.model_and_layout_from_hf(ck)
    model.eval()
    man_path = os.path.join(args.out_package, "medlm.json")
    with open(man_path) as f:
        man = json.load(f)
    man["name"] = "tiny-dream"
    man["generation"] = DREAM_DEFAULTS
    with open(man_path, "w") as f:
        json.dump(man, f, indent=2)
        f.write("\n")
    tok = Tokenizer.load(os.path.join(args.out_package, "tokenizer.json"))
    st = man["special_tokens"]
    ids = decoding.SpecialIds(mask=st["mask"], pad=st["pad"], delete=-1, end=st["end"])
    prompts = [tok.encode(t) for t in PROMPTS]
    doc = golden_decoders.document(args.out_package, "tiny-dream", ids,
                                   "Dream _sample on per-row prompts; ties to the lower position / id; counter RNG of decoding.py")
    for name, s in cases():
        traces = decoding.dream_generate(model, prompts, G, s["steps"], ids, alg=s["alg"],
                                         temperature=s.get("temperature", 0.0), top_p=s.get("top_p"),
                                         top_k=s.get("top_k"), alg_temp=s.get("alg_temp"), seeds=s.get("seeds"))
        rows = [golden_decoders.row_record(tok, text, p, t, ids) for text, p, t in zip(PROMPTS, prompts, traces)]
        doc["cases"].append({"name": name, "algorithm": s["alg"], "settings": {**s, "gen_length": G}, "rows": rows})
        print(name, [r["mask_passes"] for r in rows], [len(r["answer"]) for r in rows], flush=True)
    golden_decoders.write(doc, args.out)


if __name__ == "__main__":
    main()
