"""The three checkpoint layouts (ME-DLM, original LLaDA, Dream) in their real on-disk forms (bf16, sharded with an
index, the real config keys): detection, the unsupported features' errors, and the exported graphs' numbers
against the PyTorch module that wrote the checkpoint."""
import json
import os

import numpy as np
import pytest

import export_onnx as E
import safetensors_io as st
import tiny_checkpoints as tc
from package_check import maxdiff, run_package
from tokenizer import Tokenizer


def export(folder, out, *extra):
    args = ["--hf-checkpoint", folder, "--out", out, *extra]
    E.main(args)
    with open(os.path.join(out, "medlm.json"), encoding="utf-8") as f:
        return json.load(f)


def graph_vs_module(pkg, model):
    """max abs diff of the denoiser's logits (and edit head) against the module, at the golden batch's real positions."""
    m, got, ref, lengths = run_package(pkg, model)
    d = maxdiff(got["logits"], ref["logits"], lengths)
    if "edit_head" in m["graphs"]:
        d = max(d, maxdiff(got["next_token_logits"], ref["next_token_logits"], lengths))
    return d


@pytest.mark.parametrize("layout", st.LAYOUTS)
def test_layout_exports_and_matches_module(tmp_path, layout):
    folder = str(tmp_path / layout)
    model = tc.write_tiny_checkpoint(folder, layout, shards=2, bf16=True)
    assert os.path.exists(os.path.join(folder, "model.safetensors.index.json"))
    assert st.inspect_checkpoint(folder)[0] == layout
    extra = ["--no-edit-head"] if layout == "llada" else []
    m = export(folder, str(tmp_path / "pkg"), *extra)
    assert m["architecture"] == {"medlm": "medlm", "llada": "llada", "dream": "dream"}[layout]
    assert m["shifted_logits"] is (layout == "dream")
    assert ("edit_head" in m["graphs"]) is (layout == "medlm")
    assert graph_vs_module(str(tmp_path / "pkg"), model) <= 1e-4
    with open(os.path.join(folder, "tokenizer.json"), "rb") as a, open(tmp_path / "pkg" / "tokenizer.json", "rb") as b:
        assert a.read() == b.read()


def test_dream_config_specials_and_context(tmp_path):
    folder = str(tmp_path / "dream")
    model = tc.write_tiny_checkpoint(folder, "dream")
    cfg = model.config
    assert cfg.attention_bias and cfg.num_key_value_heads < cfg.num_attention_heads
    _, loaded, _ = st.inspect_checkpoint(folder)
    assert loaded == cfg
    m = export(folder, str(tmp_path / "pkg"))
    tok = Tokenizer.load(os.path.join(folder, "tokenizer.json"))
    assert m["special_tokens"] == {"mask": tok.token_id("<|mask|>"), "pad": tok.token_id("<|endoftext|>"),
                                   "eos": tok.token_id("<|endoftext|>"), "end": tok.token_id("<|im_end|>")}
    assert "delete" not in m["special_tokens"]
    assert m["max_sequence_length"] == E.DEFAULT_MAX_SEQ_LEN and m["model"]["max_position_embeddings"] == 131072
    assert m["generation"]["edit_share"] == 0.0
    m = export(folder, str(tmp_path / "pkg2"), "--max-seq-len", "2048")
    assert m["max_sequence_length"] == 2048


def test_dream_fp16_with_biases(tmp_path):
    folder = str(tmp_path / "dream")
    model = tc.write_tiny_checkpoint(folder, "dream")
    export(folder, str(tmp_path / "pkg"), "--fp16")
    assert graph_vs_module(str(tmp_path / "pkg"), model) <= 5e-2


def test_dream_special_tokens_must_agree(tmp_path):
    folder = tmp_path / "dream"
    tc.write_tiny_checkpoint(str(folder), "dream")
    gen = json.loads((folder / "generation_config.json").read_text())
    gen["mask_token_id"] = gen["pad_token_id"]
    (folder / "generation_config.json").write_text(json.dumps(gen))
    with pytest.raises(ValueError, match="mask token"):
        st.special_token_ids(str(folder))


def _edit_config(folder, **changes):
    path = os.path.join(folder, "config.json")
    with open(path, encoding="utf-8") as f:
        c = json.load(f)
    c.update(changes)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(c, f)


@pytest.mark.parametrize("layout,changes,message", [
    ("dream", {"rope_scaling": {"type": "yarn", "factor": 4.0}}, "rope_scaling"),
    ("dream", {"use_sliding_window": True}, "sliding"),
    ("dream", {"tie_word_embeddings": True}, "tied"),
    ("medlm", {"hidden_act": "gelu"}, "hidden_act"),
    ("medlm", {"model_type": "mistral", "architectures": ["MistralForCausalLM"]}, "unsupported architecture"),
    ("llada", {"alibi": True}, "alibi"),
    ("llada", {"include_bias": True}, "biases"),
])
def test_unsupported_config_is_a_clear_error(tmp_path, layout, changes, message):
    folder = str(tmp_path / layout)
    tc.write_tiny_checkpoint(folder, layout, shards=1)
    _edit_config(folder, **changes)
    with pytest.raises(ValueError, match=message):
        st.inspect_checkpoint(folder)


@pytest.mark.parametrize("extra,message", [
    ("model.layers.0.self_attn.q_norm.weight", "QK-norm"),
    ("model.layers.0.self_attn.o_proj.bias", "o_proj.bias"),
    ("model.layers.0.mlp.down_proj.bias", "down_proj.bias"),
])
def test_unsupported_tensors_are_a_clear_error(tmp_path, extra, message):
    folder = tmp_path / "medlm"
    tc.write_tiny_checkpoint(str(folder), "medlm", shards=1)
    tensors = st.load_file(str(folder / "model.safetensors"))
    tensors[extra] = np.ones(4, np.float32)
    st.save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match=message):
        st.inspect_checkpoint(str(folder))


def test_biases_detected_from_tensors_not_only_config(tmp_path):
    """A Dream-layout folder whose config omits attention_bias still gets its q/k/v biases from the tensor names;
    a LLaDA-layout folder with q/k/v bias tensors gets them too."""
    folder = str(tmp_path / "dream")
    tc.write_tiny_checkpoint(folder, "dream", shards=1)
    assert st.inspect_checkpoint(folder)[1].attention_bias
    folder = str(tmp_path / "medlm")
    cfg = tc.tiny_config("medlm", 328)
    cfg.attention_bias = True
    model = tc.random_model(cfg)
    os.makedirs(folder)
    tc._tokenizer("medlm", folder)
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump(tc.config_json("medlm", cfg, {"mask": 0, "pad": 0}), f)
    tc._write_tensors(tc.checkpoint_tensors("medlm", model), folder, 1, False)
    assert st.inspect_checkpoint(folder)[1].attention_bias
