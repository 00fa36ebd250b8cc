"""The PyTorch reference decoders timed on a model package: the baseline `medlm bench` compares against.

  python3 export/bench_reference.py --package onnx/medlm-tiny --requests requests.json [--threads N]

requests.json: {"settings": {...golden.py case settings, "algorithm": ...}, "batch_size": B,
                "prompts": [[token ids], ...]} (ids already templated by the caller, so both sides decode
the same inputs). Prints one JSON object: seconds (decoding only, model load excluded), forward passes,
generated tokens and the response ids per prompt (so the caller can also check it got the same tokens).
"""
import argparse
import json
import os
import time


import torch

import decoding
from export_onnx import model_from_package
from golden import run_case


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", required=True)
    ap.add_argument("--requests", required=True)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = PyTorch's default)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    with open(args.requests) as f:
        req = json.load(f)
    with open(os.path.join(args.package, "medlm.json")) as f:
        st = json.load(f)["special_tokens"]
    ids = decoding.SpecialIds(mask=st["mask"], pad=st["pad"], delete=st.get("delete", -1), end=st.get("end", st["pad"]))
    model = model_from_package(args.package)
    s = dict(req["settings"])
    algorithm = s.pop("algorithm", "medlm")
    prompts = req["prompts"]
    bs = max(1, int(req.get("batch_size", 1)))
    responses, passes, tokens = [], 0, 0
    t0 = time.perf_counter()
    for k in range(0, len(prompts), bs):
        traces = run_case(model, ids, algorithm, s, prompts[k:k + bs])
        for t in traces:
            r = decoding.response(t)
            responses.append(r)
            passes += t.mask_passes + t.edit_rounds
            tokens += sum(1 for x in r if x not in (ids.pad, ids.end, ids.mask))
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "passes": passes, "tokens": tokens, "threads": torch.get_num_threads(),
                      "responses": responses}))


if __name__ == "__main__":
    main()
