"""Write the bundled model's held-out set (JSON lines): 250 code + 250 math prompts never trained on.

  python3 export/heldout.py onnx/medlm-tiny/heldout.jsonl
Code items carry `entry_point` and `tests` ([[input list, expected], ...]); math items carry `answer`;
every item lists the valid reference `answers` it was generated with.
"""
import json
import os
import sys


import corpus


def main(path, n=500):
    items = corpus.heldout_sample(n, seed=0)
    with open(path, "w", encoding="utf-8") as f:
        for k, it in enumerate(items):
            rec = {"id": f"medlm-tiny/{k}", "kind": it["kind"], "task": it["task"], "prompt": it["prompt"]}
            if it["kind"] == "code":
                rec["entry_point"] = it["entry_point"]
                rec["tests"] = it["tests"]
            else:
                rec["answer"] = it["answer"]
            rec["answers"] = it["answers"][:8]  # examples of valid answers (code has up to ~60)
            f.write(json.dumps(rec) + "\n")
    print(f"wrote {len(items)} items to {path}")


if __name__ == "__main__":
    main(sys.argv[1])
