"""Full-size rehearsal (not a CI test): a synthetic ME-DLM checkpoint with the real ME-DLM-Stage3 / LLaDA-8B
shapes (hidden 4096, MLP 12288, 32 x 128 heads, vocab 126464; bf16, sharded + index), written tensor by tensor
so writing it needs little memory, then exported with stream_export.py under /usr/bin/time -v, loaded and run by
the C# runtime on the CPU, and its pass time set against what the CPU allows.

  python3 export/rehearsal.py write --out /tmp/synth --layers 2        # ~4.1 GB for 2 layers, ~17 GB for 32
  python3 export/rehearsal.py write --out /tmp/synth --layers 2 --dry-run   # sizes only
  python3 export/rehearsal.py export --checkpoint /tmp/synth --out /tmp/synth-int4 --weights int4   # peak RSS, size
  python3 export/rehearsal.py rss --work /tmp/rss --layers 2,4        # export peak RSS per layer count, fp16 + int4
  python3 export/rehearsal.py cpu --package /tmp/synth-int4            # GEMM rate, bandwidth, the pass's bounds
  python3 export/rehearsal.py run --package /tmp/synth-int4 --medlm "dotnet src/MeDlm.Cli/bin/Release/net10.0/MeDlm.Cli.dll"
  python3 export/rehearsal.py all --work /tmp/reh --medlm "..."        # write 32 layers, export int4 + fp16, run, cpu;
                                                                       # deletes each multi-GB folder once measured

Each measuring step prints one JSON line (and --record FILE appends it there). The tokenizer is the bundled
model's (its ids fit the vocabulary; the weights are random anyway), so the answers are noise: the rehearsal
measures memory and time, not quality.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import numpy as np

import tiny_checkpoints as tc
from model import MeDlmConfig

FULL = dict(vocab_size=126464, hidden_size=4096, intermediate_size=12288, num_attention_heads=32,
            num_key_value_heads=32, head_dim=128, rms_norm_eps=1e-5, rope_theta=500000.0, max_position_embeddings=4096)
HERE = os.path.dirname(os.path.abspath(__file__))


def shapes(cfg):
    from stream_export import _expected_shapes

    return _expected_shapes(cfg)


def write_shard(path, names, shp, seed):
    """One bf16 safetensors file whose tensors are generated in row chunks straight into the file."""
    header, offset = {}, 0
    for n in names:
        size = int(np.prod(shp[n])) * 2
        header[n] = {"dtype": "BF16", "shape": list(shp[n]), "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % 8)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for n in names:
            s = shp[n]
            if len(s) == 1:
                f.write((1.0 + 0.1 * rng.standard_normal(s[0], np.float32)).astype(np.float32).view(np.uint32)
                        .__rshift__(16).astype("<u2").tobytes())
                continue
            std = 1.0 if n == "model.embed_tokens.weight" else 0.02
            step = max(1, (1 << 22) // s[1])
            for r0 in range(0, s[0], step):
                r1 = min(s[0], r0 + step)
                x = (rng.standard_normal((r1 - r0, s[1]), np.float32) * std).view(np.uint32) >> 16
                f.write(x.astype("<u2").tobytes())


def write(out, layers, shards, dry_run=False):
    cfg = MeDlmConfig(num_hidden_layers=layers, **FULL)
    shp = shapes(cfg)
    total = sum(int(np.prod(s)) * 2 for s in shp.values())
    print(f"{layers} layers: {len(shp)} tensors, {total / 1e9:.2f} GB bf16 in {shards} shards")
    if dry_run:
        return total
    if shutil.disk_usage(os.path.dirname(os.path.abspath(out)) or ".").free < total * 1.05:
        raise SystemExit(f"not enough free disk for {total / 1e9:.2f} GB")
    os.makedirs(out, exist_ok=True)
    names = sorted(shp)
    weight_map = {}
    for s in range(shards):
        part = names[s::shards]
        fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        write_shard(os.path.join(out, fn), part, shp, seed=s)
        weight_map.update({k: fn for k in part})
    with open(os.path.join(out, "model.safetensors.index.json"), "w", encoding="utf-8") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(tc.config_json("medlm", cfg, {"mask": 0, "pad": 0}), f, indent=2)
    shutil.copyfile(os.path.join(HERE, "..", "onnx", "medlm-tiny", "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    return total


# ---------------------------------------------------------------- measuring


ROOT = os.path.dirname(HERE)
PROMPT = "write sum_gt(vals) with k = 22"
GEN_LENGTH = 32


def folder_bytes(folder):
    return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))


def timed(cmd):
    """Run cmd under /usr/bin/time -v: (stdout, stderr without time's report, peak RSS in bytes, wall seconds)."""
    print("+ " + " ".join(shlex.quote(c) for c in cmd), file=sys.stderr, flush=True)
    t0 = time.time()
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.time() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
    if r.returncode != 0 or m is None:
        raise SystemExit(f"{cmd[0]} failed ({r.returncode}): {r.stderr.strip()[-3000:]}")
    return r.stdout, r.stderr[:r.stderr.find("\tCommand being timed")], int(m.group(1)) * 1024, wall


def emit(record, path=None):
    line = json.dumps(record)
    print(line, flush=True)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    return record


def export(checkpoint, out, weights, dtype, record=None):
    """stream_export.py under /usr/bin/time -v: peak RSS, wall time and the package's size."""
    cmd = [sys.executable, os.path.join(HERE, "stream_export.py"), "--hf-checkpoint", checkpoint, "--out", out,
           "--gen-length", str(GEN_LENGTH), "--dtype", dtype]
    if weights != "float":
        cmd += ["--weights", weights, "--block-size", "32"]
    with open(os.path.join(checkpoint, "config.json"), encoding="utf-8") as f:
        layers = json.load(f)["num_hidden_layers"]
    _, _, rss, wall = timed(cmd)
    return emit({"step": "export", "layers": layers, "weights": weights, "dtype": dtype, "peak_rss_gb": rss / 1e9,
                 "seconds": wall, "package_gb": folder_bytes(out) / 1e9}, record)


def rss(work, layers, record=None):
    """Export peak RSS against the layer count: for each count a checkpoint is written, exported at float16 and
    int4 (float32 activations), and deleted with its packages."""
    out = []
    os.makedirs(work, exist_ok=True)
    for n in layers:
        ckpt = os.path.join(work, f"synth{n}")
        write(ckpt, n, 2)
        try:
            for weights, dtype in (("float", "float16"), ("int4", "float32")):
                pkg = os.path.join(work, f"pkg{n}-{weights}")
                try:
                    out.append(export(ckpt, pkg, weights, dtype, record))
                finally:
                    shutil.rmtree(pkg, ignore_errors=True)
        finally:
            shutil.rmtree(ckpt, ignore_errors=True)
    return out


def _manifest(package):
    with open(os.path.join(package, "medlm.json"), encoding="utf-8") as f:
        return json.load(f)


def prompt_tokens(package, prompt=PROMPT):
    from tokenizer import Tokenizer

    return len(Tokenizer.load(os.path.join(package, "tokenizer.json")).encode(prompt))


def pass_flops(m, tokens):
    """Matrix-product FLOPs of one denoiser + edit-head pass (ForwardTiming.ModelFlops' count)."""
    c = m["model"]
    h, ff, layers, heads = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["num_attention_heads"]
    kv, hd = c.get("num_key_value_heads", heads), c.get("head_dim", h // heads)
    per_layer = h * heads * hd * 2 + h * kv * hd * 2 + 3 * h * ff
    head = h * m["vocab_size"]
    edit = 2 * head if "edit_head" in m["graphs"] else 0
    return tokens * (layers * (2 * per_layer + 4 * tokens * heads * hd) + 2 * head + edit)


def cpu(package, record=None, repeats=5):
    """What this CPU allows: float32 GEMM rate (numpy, 4096 x 4096, all cores), memory bandwidth (a 1 GiB copy:
    read + write), and the bounds of one batch-1 pass at the prompt + GEN_LENGTH shape: the weight bytes read
    once at that bandwidth, and the pass's FLOPs at that GEMM rate."""
    n = 4096
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.T.copy()
    a @ b
    best = min(_t(lambda: a @ b) for _ in range(repeats))
    gemm = 2 * n ** 3 / best
    src = np.ones(1 << 28, np.float32)  # 1 GiB
    dst = np.empty_like(src)
    np.copyto(dst, src)
    copy = min(_t(lambda: np.copyto(dst, src)) for _ in range(repeats))
    bandwidth = 2 * src.nbytes / copy
    m = _manifest(package)
    seq = prompt_tokens(package) + GEN_LENGTH
    weights = sum(os.path.getsize(os.path.join(package, f)) for f in os.listdir(package) if ".onnx" in f)
    # the embedding is a gather: only seq rows of it are read
    emb = m["vocab_size"] * m["hidden_size"] * (2 if m["dtype"] == "float16" else 4)
    read = weights - emb
    flops = pass_flops(m, seq)
    return emit({"step": "cpu", "cores": os.cpu_count(), "gemm_gflops": gemm / 1e9, "bandwidth_gbs": bandwidth / 1e9,
                 "seq": seq, "weight_bytes_read_gb": read / 1e9, "weight_read_bound_s": read / bandwidth,
                 "pass_gflop": flops / 1e9, "flop_bound_s": flops / gemm}, record)


def _t(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def run(package, medlm, record=None, budget="1/8", passes=3):
    """The C# runtime on the CPU: `medlm generate --raw` under /usr/bin/time -v (load + decode peak RSS, wall time,
    its stats line), then `medlm forward` at batch 1 and the prompt + GEN_LENGTH shape (seconds per pass)."""
    out, err, rss, wall = timed(medlm + ["generate", "--model", package, "--raw", "--gen-length", str(GEN_LENGTH),
                                         "--budget", budget, "--device", "cpu", "--json", PROMPT])
    g = json.loads(out)
    emit({"step": "generate", "budget": budget, "peak_rss_gb": rss / 1e9, "seconds": wall,
          "stats": g.get("stats"), "stderr": err.strip()[-500:]}, record)
    seq = prompt_tokens(package) + GEN_LENGTH
    out, _, rss, wall = timed(medlm + ["forward", "--model", package, "--batch", "1", "--seq", str(seq), "--passes",
                                       str(passes), "--warmup", "1", "--edit-head", "--device", "cpu", "--json"])
    f = json.loads(out)
    return emit({"step": "forward", "seq": seq, "peak_rss_gb": rss / 1e9, "seconds": wall, "runs": f["runs"]}, record)


def rehearse(work, medlm, layers=32, keep=False):
    """write -> export int4 (float32 activations: the CPU form) -> run -> cpu; export fp16 for its RSS only.
    Each multi-GB folder is deleted once measured (unless keep)."""
    record = os.path.join(work, "rehearsal.jsonl")
    ckpt, int4, fp16 = (os.path.join(work, n) for n in (f"synth{layers}", f"pkg{layers}-int4", f"pkg{layers}-fp16"))
    os.makedirs(work, exist_ok=True)
    if not os.path.exists(os.path.join(ckpt, "model.safetensors.index.json")):
        write(ckpt, layers, 4)
    try:
        export(ckpt, int4, "int4", "float32", record)
        try:
            export(ckpt, fp16, "float", "float16", record)
        finally:
            if not keep:
                shutil.rmtree(fp16, ignore_errors=True)
        if not keep:
            shutil.rmtree(ckpt, ignore_errors=True)
        run(int4, medlm, record)
        cpu(int4, record)
    finally:
        if not keep:
            for d in (ckpt, int4, fp16):
                shutil.rmtree(d, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="write the synthetic checkpoint")
    w.add_argument("--out", required=True)
    w.add_argument("--layers", type=int, default=32)
    w.add_argument("--shards", type=int, default=2)
    w.add_argument("--dry-run", action="store_true")
    e = sub.add_parser("export", help="stream_export.py under /usr/bin/time -v")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--weights", choices=("float", "int8", "int4"), default="int4")
    e.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    r = sub.add_parser("rss", help="export peak RSS per layer count (checkpoints written and deleted)")
    r.add_argument("--work", required=True)
    r.add_argument("--layers", default="2,4")
    c = sub.add_parser("cpu", help="GEMM rate, bandwidth and one pass's bounds for a package")
    c.add_argument("--package", required=True)
    u = sub.add_parser("run", help="medlm generate + forward on the CPU")
    u.add_argument("--package", required=True)
    u.add_argument("--medlm", required=True, help="medlm's command line, e.g. \"dotnet .../MeDlm.Cli.dll\"")
    u.add_argument("--budget", default="1/8")
    a_ = sub.add_parser("all", help="the whole rehearsal")
    a_.add_argument("--work", required=True)
    a_.add_argument("--medlm", required=True)
    a_.add_argument("--layers", type=int, default=32)
    a_.add_argument("--keep", action="store_true", help="keep the checkpoint and packages")
    for q in (e, r, c, u):
        q.add_argument("--record", help="append the JSON line to this file")
    a = p.parse_args(argv)
    if a.cmd == "write":
        write(a.out, a.layers, a.shards, a.dry_run)
    elif a.cmd == "export":
        export(a.checkpoint, a.out, a.weights, a.dtype, a.record)
    elif a.cmd == "rss":
        rss(a.work, [int(x) for x in a.layers.split(",")], a.record)
    elif a.cmd == "cpu":
        cpu(a.package, a.record)
    elif a.cmd == "run":
        run(a.package, shlex.split(a.medlm), a.record, a.budget)
    else:
        rehearse(a.work, shlex.split(a.medlm), a.layers, a.keep)


if __name__ == "__main__":
    main()
