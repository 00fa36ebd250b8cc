"""model.py: shapes, bidirectional attention, padding invariance, Hugging Face parameter names."""
import os

import torch


from model import MeDlmConfig, MeDlmModel

CFG = MeDlmConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=4, head_dim=8, max_position_embeddings=64)


def small_model(cfg=CFG, seed=0):
    torch.manual_seed(seed)
    m = MeDlmModel(cfg)
    with torch.no_grad():  # larger than default init so that positions really interact
        for p in m.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.3)
    return m.eval()


def test_shapes():
    m = small_model()
    ids = torch.randint(0, CFG.vocab_size, (3, 11))
    logits, nxt, h = m(ids, torch.ones_like(ids))
    assert logits.shape == (3, 11, CFG.vocab_size)
    assert nxt.shape == (3, 11, CFG.vocab_size)
    assert h.shape == (3, 11, CFG.hidden_size)
    assert logits.dtype == nxt.dtype == h.dtype == torch.float32
    # attention_mask defaults to all ones
    assert torch.equal(m(ids)[0], logits)


def test_attention_is_bidirectional():
    m = small_model()
    ids = torch.randint(0, CFG.vocab_size, (1, 10))
    changed = ids.clone()
    changed[0, 8] = (ids[0, 8] + 1) % CFG.vocab_size
    with torch.no_grad():
        a = m(ids)[0]
        b = m(changed)[0]
    # an EARLIER position sees a change at a LATER one (a causal model would give identical logits)
    assert (a[0, :8] - b[0, :8]).abs().max() > 1e-3
    # and the hidden state of position 0 depends on all of them
    assert (a[0, 0] - b[0, 0]).abs().max() > 1e-4


def test_padding_invariance():
    m = small_model()
    row = torch.randint(0, CFG.vocab_size - 1, (1, 9))
    pad = CFG.vocab_size - 1
    padded = torch.cat([row, torch.full((1, 5), pad)], dim=1)
    att = torch.cat([torch.ones(1, 9, dtype=torch.long), torch.zeros(1, 5, dtype=torch.long)], dim=1)
    with torch.no_grad():
        alone = m(row, torch.ones_like(row))
        batch = m(padded, att)
    for x, y in zip(alone, batch):
        assert torch.allclose(x[0], y[0, :9], atol=1e-5, rtol=0)


def test_padding_invariance_in_a_batch():
    m = small_model()
    long_row = torch.randint(0, CFG.vocab_size, (1, 12))
    short_row = torch.randint(0, CFG.vocab_size, (1, 7))
    ids = torch.full((2, 12), 3)
    att = torch.zeros((2, 12), dtype=torch.long)
    ids[0], att[0] = long_row[0], 1
    ids[1, :7], att[1, :7] = short_row[0], 1
    with torch.no_grad():
        batch = m(ids, att)[0]
        a = m(long_row)[0]
        b = m(short_row)[0]
    assert torch.allclose(batch[0], a[0], atol=1e-5, rtol=0)
    assert torch.allclose(batch[1, :7], b[0], atol=1e-5, rtol=0)


def test_parameter_names_follow_hf_llada_layout():
    names = set(dict(MeDlmModel(CFG).named_parameters()))
    expected = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight", "next_token_head.weight"}
    for i in range(CFG.num_hidden_layers):
        p = f"model.layers.{i}."
        expected |= {p + s for s in ("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                                     "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
                                     "mlp.down_proj.weight", "input_layernorm.weight",
                                     "post_attention_layernorm.weight")}
    assert names == expected
    # the state dict holds exactly the parameters (rotary inv_freq is not persisted)
    assert set(MeDlmModel(CFG).state_dict()) == expected


def test_parameter_shapes_match_llada():
    m = MeDlmModel(CFG)
    sd = m.state_dict()
    hd = CFG.num_attention_heads * CFG.head_dim
    assert sd["model.layers.0.self_attn.q_proj.weight"].shape == (hd, CFG.hidden_size)
    assert sd["model.layers.0.self_attn.o_proj.weight"].shape == (CFG.hidden_size, hd)
    assert sd["model.layers.0.mlp.gate_proj.weight"].shape == (CFG.intermediate_size, CFG.hidden_size)
    assert sd["model.layers.0.mlp.down_proj.weight"].shape == (CFG.hidden_size, CFG.intermediate_size)
    assert sd["lm_head.weight"].shape == (CFG.vocab_size, CFG.hidden_size)
    assert sd["next_token_head.weight"].shape == (CFG.vocab_size, CFG.hidden_size)


def test_grouped_query_attention_runs():
    cfg = MeDlmConfig(vocab_size=50, hidden_size=32, intermediate_size=48, num_hidden_layers=1,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=8)
    m = small_model(cfg)
    assert m.model.layers[0].self_attn.k_proj.weight.shape == (16, 32)
    ids = torch.randint(0, 50, (2, 6))
    assert m(ids)[0].shape == (2, 6, 50)


def test_config_from_hf_dict():
    cfg = MeDlmConfig.from_dict({"vocab_size": 126464, "hidden_size": 4096, "num_attention_heads": 32,
                                 "num_hidden_layers": 32, "intermediate_size": 12288, "rope_theta": 500000.0,
                                 "architectures": ["LLaDAForCausalLM"]})
    assert cfg.head_dim == 128 and cfg.num_key_value_heads == 32 and cfg.rope_theta == 500000.0
    assert MeDlmConfig.from_dict(cfg.to_dict()) == cfg
