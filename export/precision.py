"""The precision table of the bundled model (not a CI test): onnx/medlm-tiny re-exported by the streaming exporter
at float32, float16, int8 and int4 (block 32; heads quantized, and int4 with float heads), then for each package its
size, `medlm bench` speed against float32 (one run: the packages alternate, round after round), the held-out
accuracy of `medlm eval` (mask only and mask + edit at each budget) and the share of held-out answers whose text is
identical to float32's at the same budget and mode.

  /usr/bin/python3 export/precision.py export --out /tmp/precision          # the packages (+ heldout.jsonl)
  /usr/bin/python3 export/precision.py table --dir /tmp/precision --medlm "dotnet src/MeDlm.Cli/bin/Release/net10.0/MeDlm.Cli.dll"

The weights come from the bundled package itself (export_onnx.model_from_package) written as a float32 Hugging Face
folder, the path make_reduced_fixture.py takes. `table` prints a markdown table (export/README.md, "Precision") and
writes DIR/precision.json.
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

import export_onnx
import safetensors_io as st
import stream_export

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLED = os.path.join(ROOT, "onnx", "medlm-tiny")
# package name -> stream_export options
VARIANTS = {
    "fp32": {},
    "fp16": {"dtype": "float16"},
    "int8": {"weights": "int8", "block_size": 32},
    "int4": {"weights": "int4", "block_size": 32},
    "int4-float-heads": {"weights": "int4", "block_size": 32, "quantize_heads": False},
}
BUDGETS = ("1/1", "1/2", "1/4", "1/8")


def package_bytes(folder):
    """Bytes of the graphs and their weights (tokenizer, manifest and held-out set left out)."""
    return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder) if ".onnx" in f)


def export(out, variants):
    model = export_onnx.model_from_package(BUNDLED)
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as hf:
        st.save_hf_checkpoint(model, hf)
        shutil.copyfile(os.path.join(BUNDLED, "tokenizer.json"), os.path.join(hf, "tokenizer.json"))
        for name in variants:
            pkg = os.path.join(out, name)
            if os.path.isdir(pkg):
                shutil.rmtree(pkg)
            stream_export.export_streaming(hf, pkg, name=f"medlm-tiny-{name}", gen_length=48,
                                           max_seq_len=model.config.max_position_embeddings, progress_stream=None,
                                           **VARIANTS[name])
            shutil.copyfile(os.path.join(BUNDLED, "heldout.jsonl"), os.path.join(pkg, "heldout.jsonl"))
            print(f"{pkg}: {package_bytes(pkg)} bytes", file=sys.stderr)


def _run(cmd):
    print("+ " + " ".join(shlex.quote(c) for c in cmd), file=sys.stderr)
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r.stdout


def bench(medlm, folders, rounds, count, batch_size):
    """Forward passes per second of each package (the decoding of `count` held-out prompts; the pass count is the
    budget's, so this is the speed of the same work), the packages alternating round after round; the median of
    the rounds per package, and every round's passes and tokens per second."""
    samples = {name: [] for name in folders}
    for _ in range(rounds):
        for name, pkg in folders.items():
            out = json.loads(_run(medlm + ["bench", "--model", pkg, "--count", str(count), "--batch-size",
                                           str(batch_size), "--no-reference", "--json", "--device", "cpu"]))
            cs = out["csharp"]
            samples[name].append({"passes_per_second": cs["passes_per_second"],
                                  "tokens_per_second": cs["tokens_per_second"]})
    median = {name: sorted(s["passes_per_second"] for s in v)[len(v) // 2] for name, v in samples.items()}
    with open(os.path.join(os.path.dirname(next(iter(folders.values()))), "bench.json"), "w", encoding="utf-8") as f:
        json.dump({"median_passes_per_second": median, "samples": samples}, f, indent=1)
    return median, samples


def evaluate(medlm, pkg, limit, reuse=False):
    """{(budget, mode, item id): completion record} of `medlm eval --completions` on the package's held-out set
    (with reuse, an existing PKG/completions.jsonl is read instead)."""
    completions = os.path.join(pkg, "completions.jsonl")
    if not (reuse and os.path.exists(completions)):
        cmd = medlm + ["eval", "--model", pkg, "--json", "--completions", completions, "--device", "cpu"]
        if limit:
            cmd += ["--limit", str(limit)]
        out = _run(cmd)
        with open(os.path.join(pkg, "eval.json"), "w", encoding="utf-8") as f:
            f.write(out)
    with open(completions, encoding="utf-8") as f:
        return {(c["budget"], c["mode"], c["id"]): c for c in map(json.loads, f)}


def compare(answers, reference):
    """Per (budget, mode): accuracy, the share of answers whose text equals the reference's, and the items only
    the reference / only this package got right."""
    out = {}
    for key, c in answers.items():
        r = reference[key]
        t = out.setdefault(key[:2], {"n": 0, "correct": 0, "same": 0, "reference_only": 0, "only": 0})
        t["n"] += 1
        t["correct"] += bool(c["correct"])
        t["same"] += c["text"] == r["text"]
        t["reference_only"] += bool(r["correct"] and not c["correct"])
        t["only"] += bool(c["correct"] and not r["correct"])
    return out


def table(folder, medlm, variants, rounds, count, batch_size, limit, reuse=False):
    folders = {name: os.path.join(folder, name) for name in variants}
    speed, samples = bench(medlm, folders, rounds, count, batch_size)
    answers = {name: evaluate(medlm, pkg, limit, reuse) for name, pkg in folders.items()}
    ref = answers[variants[0]]
    result = {"bench": {"passes_per_second": speed, "samples": samples, "rounds": rounds, "count": count,
                        "batch_size": batch_size},
              "packages": {}}
    for name in variants:
        rows = {}
        for (budget, mode), t in compare(answers[name], ref).items():
            row = rows.setdefault(budget, {})
            row[mode] = 100.0 * t["correct"] / t["n"]
            row["agree_" + mode] = 100.0 * t["same"] / t["n"]
            row["fp32_only_" + mode], row["only_" + mode] = t["reference_only"], t["only"]
        result["packages"][name] = {"bytes": package_bytes(folders[name]),
                                    "speed_vs_fp32": speed[name] / speed[variants[0]], "rows": rows}
    with open(os.path.join(folder, "precision.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    print(markdown(result, variants))


def markdown(result, variants):
    budgets = list(next(iter(result["packages"].values()))["rows"])
    head = "| package | size | speed vs fp32 | " + " | ".join(f"{b} mask / +edit" for b in budgets) + " | " + \
        " | ".join(f"{b} same as fp32" for b in budgets) + " |"
    lines = [head, "|" + "---|" * (3 + 2 * len(budgets))]
    for name in variants:
        p = result["packages"][name]
        acc = " | ".join(f"{p['rows'][b]['mask_only']:.1f} / {p['rows'][b]['mask_edit']:.1f}" for b in budgets)
        agr = " | ".join(f"{p['rows'][b]['agree_mask_only']:.1f} / {p['rows'][b]['agree_mask_edit']:.1f}" for b in budgets)
        lines.append(f"| {name} | {p['bytes'] / 1e6:.2f} MB | {p['speed_vs_fp32']:.2f}x | {acc} | {agr} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="write the packages")
    e.add_argument("--out", required=True)
    e.add_argument("--variants", default=",".join(VARIANTS))
    t = sub.add_parser("table", help="bench + eval the packages, print the table")
    t.add_argument("--dir", required=True)
    t.add_argument("--medlm", required=True, help="command line of medlm, e.g. \"dotnet .../MeDlm.Cli.dll\"")
    t.add_argument("--variants", default=",".join(VARIANTS), help="the first is the reference (fp32)")
    t.add_argument("--rounds", type=int, default=3, help="bench rounds (each runs every package once)")
    t.add_argument("--count", type=int, default=64)
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--limit", type=int, default=0, help="eval only the first N held-out items (0: all)")
    t.add_argument("--reuse", action="store_true", help="read an existing PKG/completions.jsonl instead of evaluating")
    a = p.parse_args(argv)
    variants = a.variants.split(",")
    if a.cmd == "export":
        export(a.out, variants)
    else:
        table(a.dir, shlex.split(a.medlm), variants, a.rounds, a.count, a.batch_size, a.limit, a.reuse)


if __name__ == "__main__":
    main()
