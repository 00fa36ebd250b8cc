"""The paper's table in miniature on the bundled model's held-out set, with the reference decoders.

  python3 export/evaluate.py --checkpoint export/runs/tiny/edit.pt --heldout onnx/medlm-tiny/heldout.jsonl

For each budget b in 1/1, 1/2, 1/4, 1/8 (round(G*b) forward passes per sequence): mask decoding alone
(all passes are mask steps) vs mask + edit (75% mask steps, 25% edit rounds), accuracy on code (tests
executed in a python3 subprocess), math (final number) and all, the gain, and the edit rounds used.
Writes the table as JSON (--json) and prints it as Markdown.
"""
import argparse
import json
import os
import time


import torch

import bundle
import corpus
import decoding
from tokenizer import Tokenizer

BUDGETS = [("1/1", 1.0), ("1/2", 0.5), ("1/4", 0.25), ("1/8", 0.125)]


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def run(model, tok, items, mask_steps, edit_steps, batch=64):
    ids = bundle.special_ids(tok)
    texts, rounds = [], []
    for s in range(0, len(items), batch):
        chunk = items[s:s + batch]
        prompts = [bundle.encode_prompt(tok, it["prompt"]) for it in chunk]
        traces = decoding.medlm_generate(model, prompts, bundle.GEN_LENGTH, mask_steps, edit_steps, ids)
        for t in traces:
            texts.append(tok.decode(decoding.answer(t, ids), skip_special=True))
            rounds.append(t.edit_rounds)
    ok = corpus.check(texts, items)
    by = lambda kind: [o for o, it in zip(ok, items) if kind is None or it["kind"] == kind]  # noqa: E731
    pct = lambda v: 100.0 * sum(v) / max(1, len(v))  # noqa: E731
    return {"all": pct(by(None)), "code": pct(by("code")), "math": pct(by("math")),
            "edit_rounds": sum(rounds) / max(1, len(rounds)), "texts": texts}


def table(model, tok, items):
    rows = []
    G = bundle.GEN_LENGTH
    for name, b in BUDGETS:
        total = max(1, int(G * b + 0.5))
        t0 = time.time()
        mask_only = run(model, tok, items, total, 0)
        m, e = decoding.budget_split(G, b)
        edit = run(model, tok, items, m, e)
        rows.append({"budget": name, "passes": total, "mask_steps": m, "edit_rounds": e,
                     "mask_only": {k: v for k, v in mask_only.items() if k != "texts"},
                     "mask_edit": {k: v for k, v in edit.items() if k != "texts"},
                     "gain": edit["all"] - mask_only["all"], "seconds": time.time() - t0})
        print(f"budget {name}: mask-only {mask_only['all']:.1f} -> mask+edit {edit['all']:.1f}", flush=True)
    return rows


def gate2(model, tok, items, rounds=4):
    """Share of reference answers that edit rounds leave unchanged (one answer per item)."""
    ids = bundle.special_ids(tok)
    traces, refs = [], []
    for it in items:
        p = bundle.encode_prompt(tok, it["prompt"])
        row = p + tok.encode(it["answers"][0]) + [ids.end]
        traces.append(decoding.RowTrace(len(p), list(row)))
        refs.append(row)
    for s in range(0, len(traces), 64):
        decoding.edit_rounds(model, traces[s:s + 64], rounds, ids, cap=model.config.max_position_embeddings)
    same = sum(1 for t, r in zip(traces, refs) if t.tokens == r)
    return 100.0 * same / max(1, len(items))


def markdown(rows):
    out = ["| budget (passes) | mask only: math / code / all | 75% mask + 25% edit: math / code / all | gain (all) | edit rounds used / allowed |",
           "|---|---|---|---|---|"]
    for r in rows:
        a, e = r["mask_only"], r["mask_edit"]
        out.append(f"| {r['budget']} ({r['passes']}) | {a['math']:.1f} / {a['code']:.1f} / {a['all']:.1f} | "
                   f"{e['math']:.1f} / {e['code']:.1f} / {e['all']:.1f} | {r['gain']:+.1f} | "
                   f"{e['edit_rounds']:.2f} / {r['edit_rounds']} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--heldout", required=True)
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, _ = bundle.load_checkpoint(args.checkpoint)
    tok = Tokenizer.load(args.tokenizer)
    items = load_jsonl(args.heldout)
    t0 = time.time()
    g2 = gate2(model, tok, items)
    print(f"gate 2: edit rounds leave {g2:.1f}% of reference answers unchanged", flush=True)
    rows = table(model, tok, items)
    md = markdown(rows)
    print(md)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"gate2_unchanged": g2, "items": len(items), "rows": rows, "seconds": time.time() - t0}, f, indent=1)


if __name__ == "__main__":
    main()
