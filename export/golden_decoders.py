"""What the decoder golden writers share (golden.py: the bundled ME-DLM model; golden_dream.py: the tiny Dream
package): the file layout, one row's record, and writing the file.

A decoder golden file is one JSON object: the package name, the sha256 of its denoiser.onnx (a stale file is
detected), the special ids, the conventions, and the cases. Each case: name, algorithm, settings, and per row
the prompt (text and ids), the stage-1 draft, the final response, its text, per-pass commit positions,
mask passes, edit rounds and edit counts. Rows of one case run as ONE right-padded batch; the C# tests also
run each row alone and joined one per pass, and expect the same result.
"""
import json
import os

import decoding
from export_onnx import sha256_file


def row_record(tok, text, prompt_ids, trace, ids=None):
    """The golden record of one row; with ids also the answer (the response up to its first END or PAD)."""
    resp = decoding.response(trace)
    rec = {"prompt": text, "prompt_ids": prompt_ids, "draft": trace.draft if trace.draft is not None else resp,
           "response": resp}
    if ids is not None:
        rec["answer"] = decoding.answer(trace, ids)
    rec.update({"text": tok.decode(resp, skip_special=True), "commits": trace.commits, "mask_passes": trace.mask_passes,
                "edit_rounds": trace.edit_rounds, "edits": trace.edits})
    return rec


def document(package_dir, name, ids, conventions):
    """The file's header; cases are appended to doc["cases"]."""
    return {"package": name, "denoiser_sha256": sha256_file(os.path.join(package_dir, "denoiser.onnx")),
            "special_ids": ids.__dict__, "conventions": conventions, "cases": []}


def write(doc, path):
    """Compact JSON, one line and a newline (the files are diffed as they are)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
