"""Full-size rehearsal (not a CI test): a synthetic ME-DLM checkpoint with the real ME-DLM-Stage3 / LLaDA-8B
shapes (hidden 4096, MLP 12288, 32 x 128 heads, vocab 126464; bf16, sharded + index), written tensor by tensor
so writing it needs little memory, then exported with stream_export.py under /usr/bin/time -v.

  python3 export/rehearsal.py write --out /tmp/synth --layers 2        # ~4.1 GB for 2 layers, ~16 GB for 32
  /usr/bin/time -v python3 export/stream_export.py --hf-checkpoint /tmp/synth --out /tmp/synth-int4 --weights int4
  python3 export/rehearsal.py write --out /tmp/synth --layers 2 --dry-run   # sizes only

The tokenizer is the bundled model's (its ids fit the vocabulary; the weights are random anyway).
"""
import argparse
import json
import os
import shutil

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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--out", required=True)
    w.add_argument("--layers", type=int, default=32)
    w.add_argument("--shards", type=int, default=2)
    w.add_argument("--dry-run", action="store_true")
    a = p.parse_args(argv)
    write(a.out, a.layers, a.shards, a.dry_run)


if __name__ == "__main__":
    main()
