"""The exported graphs against the PyTorch module that wrote the checkpoint, on the exporter's golden batch:
shared by the layout and the streamed-export tests."""
import json
import os

import numpy as np
import torch

import export_onnx as E
import onnx_numpy
from tokenizer import Tokenizer


def run_package(pkg, model):
    """(graph outputs, module outputs, lengths) on the golden batch."""
    with open(os.path.join(pkg, "medlm.json"), encoding="utf-8") as f:
        m = json.load(f)
    tok = Tokenizer.load(os.path.join(pkg, "tokenizer.json"))
    ids, att, lengths = E.golden_batch(tok, m["special_tokens"])
    with torch.no_grad():
        logits, next_logits, hidden = [t.numpy() for t in model(ids, att)]
    got = onnx_numpy.run(os.path.join(pkg, "denoiser.onnx"), {"input_ids": ids.numpy(), "attention_mask": att.numpy()})
    if "edit_head" in m["graphs"]:
        got.update(onnx_numpy.run(os.path.join(pkg, "edit_head.onnx"), {"hidden_states": got["hidden_states"]}))
    return m, got, {"logits": logits, "next_token_logits": next_logits, "hidden_states": hidden}, lengths


def maxdiff(a, b, lengths):
    return max(float(np.abs(a[i, :n].astype(np.float64) - b[i, :n]).max()) for i, n in enumerate(lengths))
