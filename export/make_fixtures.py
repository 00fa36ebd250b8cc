"""Tiny ONNX fixtures for the C# runtime tests (tests/fixtures), written with the onnx helper API.

  /usr/bin/python3 export/make_fixtures.py            # rewrites tests/fixtures/{packages/tiny-fixture,bad-graphs}

- packages/tiny-fixture: a valid medlm package whose "model" is an embedding lookup and two linear heads
  (hidden size 4, seeded random weights, the bundled tokenizer). Its logits depend only on each
  position's token, so it is useless as a language model but exercises loading, batching, streaming,
  cancellation and request validation in milliseconds.
- packages/tiny-fixture-fp16: the same weights rounded to float16, dtype float16 (half outputs).
- packages/tiny-fixture-pos, tiny-fixture-topk and tiny-fixture-topk-full-lse: the same kind of model
  plus a learned position embedding (so confidences differ between positions), once with full logits
  and twice with the same weights in the top-K output form (topk_ids, topk_logits, special_logits and
  the log-sum-exp of the tokens outside the top K, or of the whole row): the runtime must decode all
  three to the same tokens.
- packages/tiny-fixture-fails-long: tiny-fixture's weights with a zero term added to the embeddings that
  covers only FAILS_PAST positions, so the graphs pass the load-time contract but every run on rows longer
  than that fails inside ONNX Runtime (a broadcast error): a model error mid-batch, on any provider.
- bad-graphs: graphs that break the contract of docs/DESIGN.md §3.3 one way each, plus a file that is not
  ONNX. Their weights are ConstantOfShape ops, so each file is a few hundred bytes.
"""
import json
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import bundle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures")
TOKENIZER = os.path.join(ROOT, "onnx", "medlm-tiny", "tokenizer.json")
VOCAB = 593
HIDDEN = 4
MAX_SEQ = 64
GEN_LENGTH = 16
OPSET = 17
TOPK = 8
FAILS_PAST = 32
SPECIAL_IDS = [589, 588, 590, 592]  # mask, pad, delete, end: the order export_onnx.py writes


def _io(name, elem, dims):
    return helper.make_tensor_value_info(name, elem, dims)


def _weight(nodes, inits, name, shape, rng, dtype=np.float32):
    """A seeded random initializer, or (rng None) a ConstantOfShape node: the bad graphs stay tiny."""
    if rng is not None:
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * 2.0).astype(np.float32).astype(dtype), name))
        return
    shape_name = name + "_shape"
    inits.append(numpy_helper.from_array(np.array(shape, dtype=np.int64), shape_name))
    nodes.append(helper.make_node("ConstantOfShape", [shape_name], [name],
                                  value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])))


def denoiser(rng=None, ids_name="input_ids", mask_name="attention_mask", ids_type=TensorProto.INT64, vocab=VOCAB,
             hidden=HIDDEN, batch="batch", with_mask=True, with_hidden=True, logits_rank=3, extra_input=None,
             half=False, fails_past=0):
    """hidden = E[ids] * mask; logits = hidden @ W. Keyword arguments break one part of the contract, or
    (fails_past) add to E[ids] zeros sliced to the row length but at most fails_past long: longer rows fail."""
    nodes, inits = [], []
    dtype, elem = (np.float16, TensorProto.FLOAT16) if half else (np.float32, TensorProto.FLOAT)
    _weight(nodes, inits, "E", [VOCAB, hidden], rng, dtype)
    _weight(nodes, inits, "W", [hidden, vocab], rng, dtype)
    ids = ids_name
    if ids_type != TensorProto.INT64:
        nodes.append(helper.make_node("Cast", [ids_name], ["ids64"], to=TensorProto.INT64))
        ids = "ids64"
    nodes.append(helper.make_node("Gather", ["E", ids], ["tok_emb" if fails_past else "emb"]))
    if fails_past:
        inits += [numpy_helper.from_array(np.zeros([fails_past, hidden], dtype), "Z"),
                  numpy_helper.from_array(np.array([0], dtype=np.int64), "zero1"),
                  numpy_helper.from_array(np.array([1], dtype=np.int64), "one1"),
                  numpy_helper.from_array(np.array([2], dtype=np.int64), "two1")]
        nodes += [helper.make_node("Shape", [ids], ["ids_shape"]),
                  helper.make_node("Slice", ["ids_shape", "one1", "two1"], ["seq_len"]),
                  helper.make_node("Slice", ["Z", "zero1", "seq_len", "zero1"], ["z"]),
                  helper.make_node("Add", ["tok_emb", "z"], ["emb"])]
    inputs = [_io(ids_name, ids_type, [batch, "seq"])]
    h = "emb"
    if with_mask:
        inputs.append(_io(mask_name, TensorProto.INT64, [batch, "seq"]))
        inits.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "last_axis"))
        nodes.append(helper.make_node("Cast", [mask_name], ["maskf"], to=elem))
        nodes.append(helper.make_node("Unsqueeze", ["maskf", "last_axis"], ["mask3"]))
        nodes.append(helper.make_node("Mul", ["emb", "mask3"], ["hidden_states"]))
        h = "hidden_states"
    else:
        nodes.append(helper.make_node("Identity", ["emb"], ["hidden_states"]))
        h = "hidden_states"
    if extra_input:
        inputs.append(_io(extra_input, TensorProto.INT64, [batch, "seq"]))
    nodes.append(helper.make_node("MatMul", [h, "W"], ["logits3"]))
    outputs = []
    if logits_rank == 3:
        nodes.append(helper.make_node("Identity", ["logits3"], ["logits"]))
        outputs.append(_io("logits", elem, [batch, "seq", vocab]))
    else:
        nodes.append(helper.make_node("ReduceMax", ["logits3"], ["logits"], axes=[-1], keepdims=0))
        outputs.append(_io("logits", elem, [batch, "seq"]))
    if with_hidden:
        outputs.append(_io("hidden_states", elem, [batch, "seq", hidden]))
    graph = helper.make_graph(nodes, "denoiser", inputs, outputs, inits)
    return _model(graph)


def positional_denoiser(rng, topk=0, rest=True):
    """hidden = (E[ids] + P[pos]) * mask; logits = hidden @ W, or (topk > 0) their top-K form with the
    log-sum-exp of the tokens outside the top K (rest) or of the whole row."""
    nodes, inits = [], []
    for name, shape in (("E", [VOCAB, HIDDEN]), ("P", [MAX_SEQ, HIDDEN]), ("W", [HIDDEN, VOCAB])):
        _weight(nodes, inits, name, shape, rng)
    inits.append(numpy_helper.from_array(np.array(1, dtype=np.int64), "one"))
    inits.append(numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"))
    inits.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "last_axis"))
    nodes += [
        helper.make_node("Shape", ["input_ids"], ["ids_shape"]),
        helper.make_node("Gather", ["ids_shape", "one"], ["seq_len"]),
        helper.make_node("Range", ["zero", "seq_len", "one"], ["positions"]),
        helper.make_node("Gather", ["P", "positions"], ["pos_emb"]),
        helper.make_node("Gather", ["E", "input_ids"], ["tok_emb"]),
        helper.make_node("Add", ["tok_emb", "pos_emb"], ["emb"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "last_axis"], ["mask3"]),
        helper.make_node("Mul", ["emb", "mask3"], ["hidden_states"]),
        helper.make_node("MatMul", ["hidden_states", "W"], ["logits" if not topk else "full_logits"]),
    ]
    inputs = [_io("input_ids", TensorProto.INT64, ["batch", "seq"]), _io("attention_mask", TensorProto.INT64, ["batch", "seq"])]
    if not topk:
        outputs = [_io("logits", TensorProto.FLOAT, ["batch", "seq", VOCAB])]
    else:
        inits.append(numpy_helper.from_array(np.array([topk], dtype=np.int64), "k"))
        inits.append(numpy_helper.from_array(np.array(SPECIAL_IDS, dtype=np.int64), "special_ids"))
        lse = "logsumexp_rest" if rest else "logsumexp"
        nodes += [
            helper.make_node("TopK", ["full_logits", "k"], ["topk_logits", "topk_ids"], axis=-1),
            helper.make_node("Gather", ["full_logits", "special_ids"], ["special_logits"], axis=2),
        ]
        if rest:
            inits.append(numpy_helper.from_array(np.array(-np.inf, dtype=np.float32), "minus_inf"))
            nodes += [
                helper.make_node("Shape", ["topk_ids"], ["topk_ids_shape"]),
                helper.make_node("Expand", ["minus_inf", "topk_ids_shape"], ["minus_infs"]),
                helper.make_node("ScatterElements", ["full_logits", "topk_ids", "minus_infs"], ["outside"], axis=2),
                helper.make_node("ReduceLogSumExp", ["outside"], [lse], axes=[-1], keepdims=0),
            ]
        else:
            nodes.append(helper.make_node("ReduceLogSumExp", ["full_logits"], [lse], axes=[-1], keepdims=0))
        outputs = [_io("topk_ids", TensorProto.INT64, ["batch", "seq", topk]),
                   _io("topk_logits", TensorProto.FLOAT, ["batch", "seq", topk]),
                   _io(lse, TensorProto.FLOAT, ["batch", "seq"]),
                   _io("special_logits", TensorProto.FLOAT, ["batch", "seq", len(SPECIAL_IDS)])]
    outputs.append(_io("hidden_states", TensorProto.FLOAT, ["batch", "seq", HIDDEN]))
    return _model(helper.make_graph(nodes, "denoiser", inputs, outputs, inits))


def edit_head(rng=None, hidden=HIDDEN, out_name="next_token_logits", vocab=VOCAB, half=False):
    nodes, inits = [], []
    dtype, elem = (np.float16, TensorProto.FLOAT16) if half else (np.float32, TensorProto.FLOAT)
    _weight(nodes, inits, "N", [hidden, vocab], rng, dtype)
    nodes.append(helper.make_node("MatMul", ["hidden_states", "N"], [out_name]))
    graph = helper.make_graph(nodes, "edit_head", [_io("hidden_states", elem, ["batch", "seq", hidden])],
                              [_io(out_name, elem, ["batch", "seq", vocab])], inits)
    return _model(graph)


def edit_head_argmax(ids_type=TensorProto.INT64, prob_rank=2):
    """The edit head in the argmax form (next_token_ids, next_token_prob); keyword arguments break it."""
    nodes, inits = [], []
    _weight(nodes, inits, "N", [HIDDEN, VOCAB], None)
    inits.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "last_axis"))
    nodes += [helper.make_node("MatMul", ["hidden_states", "N"], ["logits"]),
              helper.make_node("ArgMax", ["logits"], ["ids64"], axis=-1, keepdims=0),
              helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
              helper.make_node("ReduceMax", ["probs"], ["next_token_prob"], axes=[-1], keepdims=int(prob_rank == 3))]
    if ids_type == TensorProto.INT64:
        nodes.append(helper.make_node("Identity", ["ids64"], ["next_token_ids"]))
    else:
        nodes.append(helper.make_node("Cast", ["ids64"], ["next_token_ids"], to=ids_type))
    prob_dims = ["batch", "seq"] + ([1] if prob_rank == 3 else [])
    graph = helper.make_graph(nodes, "edit_head", [_io("hidden_states", TensorProto.FLOAT, ["batch", "seq", HIDDEN])],
                              [_io("next_token_ids", ids_type, ["batch", "seq"]),
                               _io("next_token_prob", TensorProto.FLOAT, prob_dims)], inits)
    return _model(graph)


def _model(graph):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="make_fixtures")
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def manifest(name="tiny-fixture", dtype="float32"):
    return {
        "format": "medlm-package/1",
        "name": name,
        "architecture": "medlm",
        "vocab_size": VOCAB,
        "hidden_size": HIDDEN,
        "max_sequence_length": MAX_SEQ,
        "shifted_logits": False,
        "dtype": dtype,
        "special_tokens": {"mask": 589, "pad": 588, "delete": 590, "end": 592, "eos": 588},
        "chat_template": dict(bundle.CHAT_TEMPLATE),
        "graphs": {"denoiser": {"file": "denoiser.onnx", "outputs": "full"}, "edit_head": {"file": "edit_head.onnx"}},
        "generation": {"gen_length": GEN_LENGTH, "budget": 1.0, "edit_share": 0.25, "algorithm": "medlm",
                       "block_length": GEN_LENGTH, "temperature": 0.0},
        "model": {"vocab_size": VOCAB, "hidden_size": HIDDEN, "max_position_embeddings": MAX_SEQ},
    }


def write_package(folder, name, den, head, topk=0):
    os.makedirs(folder)
    onnx.save(den, os.path.join(folder, "denoiser.onnx"))
    onnx.save(head, os.path.join(folder, "edit_head.onnx"))
    shutil.copyfile(TOKENIZER, os.path.join(folder, "tokenizer.json"))
    m = manifest(name)
    if topk:
        m["graphs"]["denoiser"] = {"file": "denoiser.onnx", "outputs": "topk", "topk": topk, "special_ids": SPECIAL_IDS}
    with open(os.path.join(folder, "medlm.json"), "w", encoding="utf-8") as f:
        json.dump(m, f, indent=2)
        f.write("\n")


def main():
    pkg = os.path.join(OUT, "packages", "tiny-fixture")
    pkg16 = os.path.join(OUT, "packages", "tiny-fixture-fp16")
    bad = os.path.join(OUT, "bad-graphs")
    for d in (pkg, pkg16, bad):
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
    rng = np.random.default_rng(20260501)
    onnx.save(denoiser(rng), os.path.join(pkg, "denoiser.onnx"))
    onnx.save(edit_head(rng), os.path.join(pkg, "edit_head.onnx"))
    shutil.copyfile(TOKENIZER, os.path.join(pkg, "tokenizer.json"))
    with open(os.path.join(pkg, "medlm.json"), "w", encoding="utf-8") as f:
        json.dump(manifest(), f, indent=2)
        f.write("\n")
    # The same weights in float16 (the float32 ones rounded), for the half-precision output path.
    rng = np.random.default_rng(20260501)
    onnx.save(denoiser(rng, half=True), os.path.join(pkg16, "denoiser.onnx"))
    onnx.save(edit_head(rng, half=True), os.path.join(pkg16, "edit_head.onnx"))
    shutil.copyfile(TOKENIZER, os.path.join(pkg16, "tokenizer.json"))
    with open(os.path.join(pkg16, "medlm.json"), "w", encoding="utf-8") as f:
        json.dump(manifest("tiny-fixture-fp16", "float16"), f, indent=2)
        f.write("\n")

    # One set of weights, two output forms.
    for name, topk, rest in (("tiny-fixture-pos", 0, True), ("tiny-fixture-topk", TOPK, True),
                             ("tiny-fixture-topk-full-lse", TOPK, False)):
        folder = os.path.join(OUT, "packages", name)
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        rng = np.random.default_rng(20261201)
        write_package(folder, name, positional_denoiser(rng, topk, rest), edit_head(rng), topk)

    folder = os.path.join(OUT, "packages", "tiny-fixture-fails-long")
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    rng = np.random.default_rng(20260501)
    write_package(folder, "tiny-fixture-fails-long", denoiser(rng, fails_past=FAILS_PAST), edit_head(rng))

    graphs = {
        "denoiser_wrong_input_names.onnx": denoiser(ids_name="ids", mask_name="mask"),
        "denoiser_missing_attention_mask.onnx": denoiser(with_mask=False),
        "denoiser_float_input_ids.onnx": denoiser(ids_type=TensorProto.FLOAT),
        "denoiser_wrong_vocab.onnx": denoiser(vocab=600),
        "denoiser_wrong_hidden.onnx": denoiser(hidden=6),
        "denoiser_rank2_logits.onnx": denoiser(logits_rank=2),
        "denoiser_fixed_batch.onnx": denoiser(batch=1),
        "denoiser_no_hidden_states.onnx": denoiser(with_hidden=False),
        "denoiser_extra_input.onnx": denoiser(extra_input="position_ids"),
        "edit_head_wrong_output_name.onnx": edit_head(out_name="logits"),
        "edit_head_wrong_vocab.onnx": edit_head(vocab=600),
        "edit_head_argmax_float_ids.onnx": edit_head_argmax(ids_type=TensorProto.FLOAT),
        "edit_head_argmax_rank3_prob.onnx": edit_head_argmax(prob_rank=3),
    }
    for name, model in graphs.items():
        onnx.save(model, os.path.join(bad, name))
    with open(os.path.join(bad, "not_an_onnx_model.onnx"), "w", encoding="utf-8") as f:
        f.write("this is a text file, not a protobuf\n")
    total = sum(os.path.getsize(os.path.join(d, f)) for d in (pkg, pkg16, bad) for f in os.listdir(d))
    print(f"wrote {pkg}, {pkg16} and {bad} ({total} bytes)")


if __name__ == "__main__":
    main()
