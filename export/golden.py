"""Golden files that pin the C# decoders to the PyTorch reference, token for token.

  python3 export/golden.py --package onnx/medlm-tiny --checkpoint export/runs/tiny/edit.pt \
      --out tests/golden/medlm-tiny/decoders.json

Each case: the algorithm and its settings, the prompts (text and ids; batches mix prompt lengths),
and per row the stage-1 draft, the final response, per-step commit positions, passes, edit rounds used
and edit counts. Rows of one case run as ONE right-padded batch; the C# tests also run each row alone
and expect the same result.
"""
import argparse
import hashlib
import json
import os


import torch

import bundle
import decoding
from evaluate import load_jsonl
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
    return out


def run_case(model, ids, algorithm, s, prompts):
    if algorithm == "medlm":
        traces = decoding.medlm_generate(model, prompts, s["gen_length"], s["mask_steps"], s["edit_steps"], ids, cap=s.get("cap"))
        return traces
    traces = decoding.llada_generate(
        model, prompts, s["gen_length"], s.get("steps", 0), ids, block_length=s.get("block_length"),
        remasking=algorithm, temperature=s.get("temperature", 0.0), cfg_scale=s.get("cfg_scale", 0.0),
        seeds=s.get("seeds"), logits_eos_inf=s.get("logits_eos_inf", False),
        confidence_eos_eot_inf=s.get("confidence_eos_eot_inf", False), threshold=s.get("threshold"))
    for t in traces:
        t.draft = t.tokens[t.prompt_len:]
    return traces


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    model, _ = bundle.load_checkpoint(args.checkpoint)
    tok = Tokenizer.load(os.path.join(args.package, "tokenizer.json"))
    ids = bundle.special_ids(tok)
    held = load_jsonl(os.path.join(args.package, "heldout.jsonl"))
    code = [it for it in held if it["kind"] == "code"]
    math = [it for it in held if it["kind"] == "math"]
    # Mixed prompt lengths in one batch: two code prompts, two math prompts (math prompts are longer).
    chosen = [code[0], math[0], code[1], math[1]]
    texts = [it["prompt"] for it in chosen]
    prompts = [bundle.encode_prompt(tok, t) for t in texts]
    with open(os.path.join(args.package, "denoiser.onnx"), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    doc = {"package": os.path.basename(os.path.normpath(args.package)), "denoiser_sha256": digest,
           "special_ids": ids.__dict__, "conventions": "ties to the lower position; counter RNG of decoding.py",
           "cases": []}
    for name, algorithm, s in cases():
        traces = run_case(model, ids, algorithm, s, prompts)
        rows = []
        for text, p, t in zip(texts, prompts, traces):
            resp = decoding.response(t)
            rows.append({"prompt": text, "prompt_ids": p, "draft": t.draft, "response": resp,
                         "text": tok.decode(resp, skip_special=True), "commits": t.commits,
                         "mask_passes": t.mask_passes, "edit_rounds": t.edit_rounds, "edits": t.edits})
        doc["cases"].append({"name": name, "algorithm": algorithm, "settings": s, "rows": rows})
        print(name, [r["text"][:40] for r in rows], flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
