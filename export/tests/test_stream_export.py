"""stream_export.py: graphs built from the checkpoint files directly, tensor by tensor, for each layout, dtype,
weight quantization and output form, against the PyTorch module that wrote the checkpoint."""
import os

import numpy as np
import onnx
import pytest

import export_onnx as E
import safetensors_io as st
import stream_export as S
import tiny_checkpoints as tc
from make_layout_fixtures import dequantized_model
from package_check import maxdiff, run_package


@pytest.fixture(scope="module", params=st.LAYOUTS)
def checkpoint(request, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("ck") / request.param)
    model = tc.write_tiny_checkpoint(folder, request.param, shards=2, bf16=True)
    return request.param, folder, model


def export(folder, out, layout, *extra):
    args = ["--hf-checkpoint", folder, "--out", out, *extra]
    if layout == "llada":
        args.append("--no-edit-head")
    S.main(args)
    return out


def test_float32_matches_module(checkpoint, tmp_path):
    layout, folder, model = checkpoint
    pkg = export(folder, str(tmp_path / "p"), layout)
    m, got, ref, lengths = run_package(pkg, model)
    E.validate_manifest(m, pkg)
    assert m["architecture"] == layout and m["shifted_logits"] is (layout == "dream")
    for k in ("logits", "hidden_states") + (("next_token_logits",) if layout == "medlm" else ()):
        assert maxdiff(got[k], ref[k], lengths) <= 1e-4, k
    proto = onnx.load(os.path.join(pkg, "denoiser.onnx"), load_external_data=False)
    weights = {t.name for t in proto.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL}
    assert weights and m["graphs"]["denoiser"]["external_data"] == "denoiser.onnx.data"
    # pre-transposed: no Transpose reads a weight (ONNX Runtime would fold it at every load)
    assert not [n for n in proto.graph.node if n.op_type == "Transpose" and n.input[0] in weights]


def test_float16_matches_module(checkpoint, tmp_path):
    layout, folder, model = checkpoint
    pkg = export(folder, str(tmp_path / "p"), layout, "--dtype", "float16")
    m, got, ref, lengths = run_package(pkg, model)
    assert m["dtype"] == "float16" and got["logits"].dtype == np.float16
    assert maxdiff(got["logits"], ref["logits"], lengths) <= 5e-2
    proto = onnx.load(os.path.join(pkg, "denoiser.onnx"), load_external_data=False)
    softmax_in = {n.input[0] for n in proto.graph.node if n.op_type == "Softmax"}
    types = {v.name: v for v in onnx.shape_inference.infer_shapes(proto).graph.value_info}
    assert softmax_in and all(types[s].type.tensor_type.elem_type == onnx.TensorProto.FLOAT for s in softmax_in)


@pytest.mark.parametrize("weights,bits", [("int8", 8), ("int4", 4)])
def test_quantized_graph_is_the_dequantized_model(checkpoint, tmp_path, weights, bits):
    layout, folder, model = checkpoint
    pkg = export(folder, str(tmp_path / "p"), layout, "--weights", weights, "--block-size", "32")
    m, got, ref, lengths = run_package(pkg, dequantized_model(model, bits, 32))
    assert m["weights"] == {"quantization": weights, "block_size": 32, "heads_quantized": True,
                            "op": "com.microsoft.MatMulNBits"}
    assert maxdiff(got["logits"], ref["logits"], lengths) <= 1e-4
    proto = onnx.load(os.path.join(pkg, "denoiser.onnx"), load_external_data=False)
    nbits = [n for n in proto.graph.node if n.op_type == "MatMulNBits"]
    assert len(nbits) == 7 * model.config.num_hidden_layers + 1
    assert all(n.domain == "com.microsoft" for n in nbits)
    # and close to the float model: symmetric int8 within 0.05, int4 within a few tenths on these logits
    _, _, full, _ = run_package(pkg, model)
    assert maxdiff(got["logits"], full["logits"], lengths) <= (0.05 if bits == 8 else 0.6)


def test_quantize_blocks_layout():
    """MatMulNBits' layout by hand: two int4 per byte, even element low nibble, zero point 8, one scale per block."""
    w = np.array([[7.0, -7.0, 1.0, 0.0] + [0.0] * 28, [0.5] * 32], np.float32)
    packed, scales = S.quantize_blocks(w, 4, 32)
    assert packed.shape == (2, 1, 16) and scales.shape == (2, 1)
    assert scales[0, 0] == 1.0 and packed[0, 0, 0] == (7 + 8) | ((-7 + 8) << 4) and packed[0, 0, 1] == (1 + 8) | (8 << 4)
    assert np.allclose(S.dequantize_blocks(packed, scales, 4, 32), w)
    p8, s8 = S.quantize_blocks(w, 8, 16)
    assert p8.shape == (2, 2, 16) and p8[0, 0, 0] == 127 + 128 and p8[0, 0, 1] == 128 - 127
    # K not a multiple of the block: zero padded
    assert S.quantize_blocks(np.ones((3, 40), np.float32), 4, 32)[0].shape == (3, 2, 16)


def test_float_heads_option(tmp_path):
    folder = str(tmp_path / "ck")
    model = tc.write_tiny_checkpoint(folder, "medlm")
    pkg = export(folder, str(tmp_path / "p"), "medlm", "--weights", "int4", "--float-heads")
    _, got, ref, lengths = run_package(pkg, dequantized_model(model, 4, 32, heads=False))
    assert maxdiff(got["logits"], ref["logits"], lengths) <= 1e-4
    assert maxdiff(got["next_token_logits"], ref["next_token_logits"], lengths) <= 1e-4
    e = onnx.load(os.path.join(pkg, "edit_head.onnx"), load_external_data=False)
    assert [n.op_type for n in e.graph.node][0] == "MatMul"


def test_reduced_outputs(tmp_path):
    """Edit head argmax form (ids + probability per position) and denoiser top-K form against the module."""
    folder = str(tmp_path / "ck")
    model = tc.write_tiny_checkpoint(folder, "medlm")
    pkg = export(folder, str(tmp_path / "p"), "medlm", "--edit-outputs", "argmax", "--topk", "8")
    m, got, ref, lengths = run_package(pkg, model)
    assert m["graphs"]["edit_head"]["outputs"] == "argmax" and m["graphs"]["denoiser"]["outputs"] == "topk"
    E.validate_manifest(m, pkg)
    nl = ref["next_token_logits"].astype(np.float64)
    for b, n in enumerate(lengths):
        assert np.array_equal(got["next_token_ids"][b, :n], nl[b, :n].argmax(-1))
        p = np.exp(nl[b, :n] - nl[b, :n].max(-1, keepdims=True))
        assert np.abs(got["next_token_prob"][b, :n] - 1.0 / p.sum(-1)).max() <= 1e-5
    lg = ref["logits"]
    top = -np.sort(-lg, axis=-1)[..., :8]
    assert maxdiff(got["topk_logits"], top, lengths) <= 1e-4
    assert maxdiff(got["special_logits"], lg[..., m["graphs"]["denoiser"]["special_ids"]], lengths) <= 1e-4
    assert got["next_token_ids"].dtype == np.int64 and got["next_token_prob"].dtype == np.float32


def test_full_disk_is_a_clear_error_and_writes_nothing(tmp_path, monkeypatch):
    folder = str(tmp_path / "ck")
    tc.write_tiny_checkpoint(folder, "medlm")
    out = str(tmp_path / "p")
    monkeypatch.setattr(S.shutil, "disk_usage", lambda p: type("U", (), {"free": 1000})())
    with pytest.raises(S.DiskFull, match="needs"):
        S.export_streaming(folder, out, progress_stream=None)
    assert not os.path.exists(os.path.join(out, "denoiser.onnx.data"))


def test_estimate_is_close_to_what_is_written(tmp_path):
    folder = str(tmp_path / "ck")
    tc.write_tiny_checkpoint(folder, "medlm")
    for kind in ("float", "int4"):
        out = str(tmp_path / kind)
        S.export_streaming(folder, out, weights=kind, progress_stream=None)
        written = sum(os.path.getsize(os.path.join(out, f)) for f in ("denoiser.onnx.data", "edit_head.onnx.data"))
        _, _, tensors = st.inspect_checkpoint(folder)
        disk, _ = S.estimate(tensors, kind, 4, 32, True, True)
        assert disk <= written <= disk + 64 * 60
