"""Golden files that pin the C# decoders to the PyTorch reference, token for token.

  python3 export/golden.py --package onnx/medlm-tiny --out tests/golden/medlm-tiny/decoders.json

The model is the package's own weights (export_onnx.model_from_package), or --checkpoint (the training
checkpoint, the same weights). Batches mix prompt lengths (two code and two math prompts of the held-out
set). File layout: golden_decoders.py.
"""
import argparse
import os

import torch

import bundle
import decoding
import golden_decoders
from evaluate import load_jsonl
from export_onnx import model_from_package
from tokenizer import Tokenizer

G = bundle.GEN_LENGTH


def cases():
    """(name, algorithm, settings); budgets follow decoding.budget_split."""
    out = []
    for name, b in (("1-1", 1.0), ("1-2", 0.5), ("1-4", 0.25), ("1-8", 0.125)):
        m, e = decoding.budget_split(G, b)
        out.append((f"medlm_{name}", "medlm", {"gen_length": G, "mask_steps": m, "edit_steps": e}))
    out.append(("medlm_mask_only_12", "medlm", {"gen_length": G, "mask_steps": 12, "edit_steps": 0}))
    out.append(("medlm_cap_tight", "medlm", {"gen_length": G, "mask_steps": 6, "edit_steps": 6, "cap": 60}))
    out.append(("llada_low_confidence", "low_confidence", {"gen_length": G, "steps": 24}))
    out.append(("llada_low_confidence_blocks", "low_confidence", {"gen_length": G, "steps": 24, "block_length": 16}))
    out.append(("llada_random_blocks", "random", {"gen_length": G, "steps": 12, "block_length": 24, "seeds": [11, 12, 13, 14]}))
    out.append(("llada_temperature", "low_confidence", {"gen_length": G, "steps": 12, "temperature": 0.7, "seeds": [21, 22, 23, 24]}))
    out.append(("llada_cfg", "low_confidence", {"gen_length": G, "steps": 12, "cfg_scale": 0.5}))
    out.append(("llada_eos_options", "low_confidence", {"gen_length": G, "steps": 12, "logits_eos_inf": True, "confidence_eos_eot_inf": True}))
    out.append(("threshold_blocks", "threshold", {"gen_length": G, "block_length": 16, "threshold": 0.9}))
    out.append(("threshold_single_block", "threshold", {"gen_length": G, "threshold": 0.5}))
    # Adaptive modes (docs/DESIGN.md §2.3, §2.6): gated edits, threshold stage 1 + edits up to a cap, the early switch.
    m, e = decoding.budget_split(G, 0.25)
    out.append(("medlm_1-4_edit_threshold", "medlm", {"gen_length": G, "mask_steps": m, "edit_steps": e, "edit_threshold": 0.9}))
    m, e = decoding.budget_split(G, 0.125)
    out.append(("medlm_1-8_edit_threshold", "medlm", {"gen_length": G, "mask_steps": m, "edit_steps": e, "edit_threshold": 0.6}))
    out.append(("medlm_4-6_edit_threshold", "medlm", {"gen_length": G, "mask_steps": 4, "edit_steps": 6, "edit_threshold": 0.7}))
    out.append(("threshold_edits", "threshold", {"gen_length": G, "threshold": 0.9, "edit_steps": 8}))
    out.append(("threshold_edits_gated", "threshold", {"gen_length": G, "threshold": 0.7, "edit_steps": 8, "edit_threshold": 0.8}))
    out.append(("threshold_switch_edits", "threshold", {"gen_length": G, "threshold": 0.99, "switch_threshold": 0.5, "edit_steps": 6,
                                                         "edit_threshold": 0.5}))
    out.append(("llada_low_confidence_blocks_switch", "low_confidence", {"gen_length": G, "steps": 24, "block_length": 16,
                                                                           "switch_threshold": 0.3}))
    out.append(("llada_low_confidence_switch_edits", "low_confidence", {"gen_length": G, "steps": 24, "switch_threshold": 0.3,
                                                                          "edit_steps": 4}))
    # medlm gives a PAD prediction confidence 0, so the switch waits until no PAD is predicted among the masks left.
    out.append(("medlm_switch", "medlm", {"gen_length": G, "mask_steps": 24, "edit_steps": 4, "switch_threshold": 0.7}))
    return out



def run_case(model, ids, algorithm, s, prompts):
    if algorithm == "medlm":
        return decoding.medlm_generate(model, prompts, s["gen_length"], s["mask_steps"], s["edit_steps"], ids, cap=s.get("cap"),
                                       edit_threshold=s.get("edit_threshold", 0.0), switch_threshold=s.get("switch_threshold"))
    return decoding.llada_edit_generate(
        model, prompts, s["gen_length"], s.get("edit_steps", 0), ids, cap=s.get("cap"), edit_threshold=s.get("edit_threshold", 0.0),
        steps=s.get("steps", 0), block_length=s.get("block_length"),
        remasking=algorithm, temperature=s.get("temperature", 0.0), cfg_scale=s.get("cfg_scale", 0.0),
        seeds=s.get("seeds"), logits_eos_inf=s.get("logits_eos_inf", False),
        confidence_eos_eot_inf=s.get("confidence_eos_eot_inf", False), threshold=s.get("threshold"),
        switch_threshold=s.get("switch_threshold"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", required=True)
    ap.add_argument("--checkpoint", default=None, help="the training checkpoint (default: the package's own weights)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = bundle.load_checkpoint(args.checkpoint)[0] if args.checkpoint else model_from_package(args.package)
    tok = Tokenizer.load(os.path.join(args.package, "tokenizer.json"))
    ids = bundle.special_ids(tok)
    held = load_jsonl(os.path.join(args.package, "heldout.jsonl"))
    code = [it for it in held if it["kind"] == "code"]
    math = [it for it in held if it["kind"] == "math"]
    # Mixed prompt lengths in one batch: two code prompts, two math prompts (math prompts are longer).
    chosen = [code[0], math[0], code[1], math[1]]
    texts = [it["prompt"] for it in chosen]
    prompts = [bundle.encode_prompt(tok, t) for t in texts]
    doc = golden_decoders.document(args.package, os.path.basename(os.path.normpath(args.package)), ids,
                                   "ties to the lower position; counter RNG of decoding.py")
    for name, algorithm, s in cases():
        traces = run_case(model, ids, algorithm, s, prompts)
        rows = [golden_decoders.row_record(tok, text, p, t) for text, p, t in zip(texts, prompts, traces)]
        doc["cases"].append({"name": name, "algorithm": algorithm, "settings": s, "rows": rows})
        print(name, [r["mask_passes"] + r["edit_rounds"] for r in rows], [r["text"][:40] for r in rows], flush=True)
    golden_decoders.write(doc, args.out)


if __name__ == "__main__":
    main()
