"""safetensors_io.py: the file format (against hand-built bytes), round trips, bf16, and HF checkpoint folders."""
import json
import os
import struct

import numpy as np
import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))

import export_onnx as E
import safetensors_io as st
import tiny_checkpoints as tc
from model import MeDlmConfig, MeDlmModel

CFG = MeDlmConfig(vocab_size=40, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=2, head_dim=8, max_position_embeddings=32)


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return MeDlmModel(CFG).eval()


def test_reads_hand_built_file(tmp_path):
    """Bytes laid out by the spec, independent of our writer: u64 LE header size, JSON, raw LE data."""
    header = {"b": {"dtype": "I64", "shape": [2], "data_offsets": [8, 24]},
              "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "c": {"dtype": "BF16", "shape": [2, 1], "data_offsets": [24, 28]},
              "d": {"dtype": "F16", "shape": [], "data_offsets": [28, 30]},
              "__metadata__": {"format": "pt"}}
    h = json.dumps(header).encode()
    data = struct.pack("<2f", 1.5, -2.0) + struct.pack("<2q", 7, -9) + struct.pack("<2H", 0x3F80, 0xC040) \
        + struct.pack("<e", 0.25)
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)
    t = st.load_file(str(path))
    assert t["a"].dtype == np.float32 and t["a"].tolist() == [1.5, -2.0]
    assert t["b"].dtype == np.int64 and t["b"].tolist() == [7, -9]
    assert t["c"].dtype == np.float32 and t["c"].shape == (2, 1) and t["c"].ravel().tolist() == [1.0, -3.0]
    assert t["d"].dtype == np.float16 and t["d"].shape == () and float(t["d"]) == 0.25
    _, meta, start = st.read_header(str(path))
    assert meta == {"format": "pt"} and start == 8 + len(h)


def test_round_trip(tmp_path):
    rng = np.random.RandomState(0)
    tensors = {"w": rng.randn(3, 5).astype(np.float32), "h": rng.randn(4).astype(np.float16),
               "i": np.arange(6, dtype=np.int64).reshape(2, 3), "s": np.array(3.0, dtype=np.float32)}
    path = str(tmp_path / "t.safetensors")
    st.save_file(tensors, path, metadata={"format": "pt"})
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
    assert n % 8 == 0
    back = st.load_file(path)
    assert set(back) == set(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape and np.array_equal(back[k], v)
    assert set(st.load_file(path, names={"w"})) == {"w"}


def test_bf16_matches_torch(tmp_path):
    x = torch.randn(1000) * 10
    x[:3] = torch.tensor([0.0, -0.0, 1e-40])
    bits = st.f32_to_bf16(x.numpy())
    assert np.array_equal(bits, x.bfloat16().view(torch.int16).numpy().view(np.uint16))
    assert np.array_equal(st.bf16_to_f32(bits), x.bfloat16().float().numpy())
    path = str(tmp_path / "b.safetensors")
    st.save_file({"x": x.numpy()}, path, dtypes={"x": "BF16"})
    assert st.read_header(path)[0]["x"]["dtype"] == "BF16"
    assert np.array_equal(st.load_file(path)["x"], x.bfloat16().float().numpy())
    assert st.load_file(path, bf16="raw")["x"].dtype == np.uint16


def test_rejects_unknown_dtype(tmp_path):
    h = json.dumps({"a": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}).encode()
    path = tmp_path / "f8.safetensors"
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"\0")
    with pytest.raises(ValueError):
        st.load_file(str(path))


@pytest.mark.parametrize("shards", [1, 3])
def test_hf_checkpoint_round_trip(tmp_path, shards):
    m = tiny_model()
    folder = str(tmp_path / "hf")
    st.save_hf_checkpoint(m, folder, shards=shards)
    assert os.path.exists(os.path.join(folder, "model.safetensors.index.json")) == (shards > 1)
    cfg, sd = st.load_hf_checkpoint(folder)
    assert cfg == CFG
    ref = m.state_dict()
    assert set(sd) == set(ref)
    for k in ref:
        assert torch.equal(sd[k], ref[k]), k


def test_hf_checkpoint_bf16_and_fp16_load(tmp_path):
    m = tiny_model()
    folder = str(tmp_path / "hf")
    st.save_hf_checkpoint(m, folder, bf16=True)
    _, sd = st.load_hf_checkpoint(folder)
    for k, v in m.state_dict().items():
        assert sd[k].dtype == torch.float32 and torch.equal(sd[k], v.bfloat16().float())
    _, sd16 = st.load_hf_checkpoint(folder, dtype=np.float16)
    assert all(v.dtype == torch.float16 for v in sd16.values())


def test_original_llada_layout(tmp_path):
    """GSAI-ML LLaDA names (model.transformer.*) and config keys (d_model, n_heads, ...) map onto model.py."""
    m = tiny_model()
    sd = {k: v.numpy() for k, v in m.state_dict().items() if k != "next_token_head.weight"}
    orig = tc.checkpoint_tensors("llada", m)
    assert len(orig) == len(sd)
    folder = tmp_path / "llada"
    folder.mkdir()
    st.save_file(orig, str(folder / "model.safetensors"))
    config = {"architectures": ["LLaDAModelLM"], "d_model": 16, "n_heads": 2, "n_kv_heads": 2, "n_layers": 2,
              "mlp_hidden_size": 24, "vocab_size": 40, "embedding_size": 40, "max_sequence_length": 32,
              "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "include_bias": False, "weight_tying": False}
    (folder / "config.json").write_text(json.dumps(config))
    cfg, loaded = st.load_hf_checkpoint(str(folder))
    assert cfg == CFG
    assert set(loaded) == set(sd)
    for k, v in sd.items():
        assert np.array_equal(loaded[k].numpy(), v), k


def test_model_from_hf_and_cli(tmp_path):
    """A plain LLaDA folder (no next_token_head) exports as a stage-1-only package; with the head, as medlm."""
    tok = os.path.join(HERE, "..", "..", "onnx", "medlm-tiny", "tokenizer.json")
    if not os.path.exists(tok):
        pytest.skip("bundled tokenizer not present")
    cfg = MeDlmConfig(vocab_size=600, hidden_size=32, intermediate_size=48, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, head_dim=16, max_position_embeddings=64)
    torch.manual_seed(0)
    m = MeDlmModel(cfg).eval()
    folder = str(tmp_path / "hf")
    st.save_hf_checkpoint(m, folder, shards=2)
    model, has_edit = E.model_from_hf(folder)
    assert has_edit
    ids = torch.randint(0, 600, (1, 5))
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model(ids), m(ids)))

    # drop the edit head: a plain LLaDA checkpoint
    with open(os.path.join(folder, "model.safetensors.index.json"), encoding="utf-8") as f:
        idx = json.load(f)
    fn = idx["weight_map"].pop("next_token_head.weight")
    tensors = st.load_file(os.path.join(folder, fn))
    del tensors["next_token_head.weight"]
    st.save_file(tensors, os.path.join(folder, fn))
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump(idx, f)
    _, has_edit = E.model_from_hf(folder)
    assert not has_edit
    with pytest.raises(SystemExit):
        E.main(["--hf-checkpoint", folder, "--tokenizer", tok, "--out", str(tmp_path / "x")])
    out = str(tmp_path / "llada-pkg")
    E.main(["--hf-checkpoint", folder, "--tokenizer", tok, "--out", out, "--no-edit-head", "--verify"])
    with open(os.path.join(out, "medlm.json"), encoding="utf-8") as f:
        man = json.load(f)
    assert man["architecture"] == "llada" and "edit_head" not in man["graphs"]
