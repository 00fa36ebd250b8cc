"""Tiny random checkpoints in the real on-disk forms of the three layouts (safetensors_io.LAYOUTS).

Each folder holds what the real model's folder holds: config.json with the real keys, bfloat16 safetensors
(optionally sharded with model.safetensors.index.json), tokenizer.json with the model's special tokens and,
for Dream, tokenizer_config.json / generation_config.json naming them. The tests export these and compare
the graphs with the PyTorch module; the full-size rehearsal writes the same forms at real widths.

  python3 export/tiny_checkpoints.py --layout dream --out /tmp/tiny-dream
  python3 export/export_onnx.py --hf-checkpoint /tmp/tiny-dream --out /tmp/tiny-dream-pkg --verify
"""
import argparse
import json
import os

import numpy as np
import torch

import safetensors_io as st
from model import MeDlmConfig, MeDlmModel
from tokenizer import SPECIAL_TOKENS, train as train_tokenizer

# Dream's tokenizer (Qwen2) special tokens; the real ids are 151643 (<|endoftext|>) and 151666 (<|mask|>).
DREAM_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|mask|>")
TEXTS = ("<|im_start|>user\nwrite sum_gt(xs) with k = 9<|im_end|>\n<|im_start|>assistant\n",
         "def f(xs):\n    return sum(x for x in xs if x > 9)\n",
         "ann has 3 pens and gets 5 more. how many pens now? 8\n") * 4

# original LLaDA names for model.py's names (inverse of safetensors_io._LLADA_RENAMES)
_TO_LLADA = {"self_attn.q_proj": "q_proj", "self_attn.k_proj": "k_proj", "self_attn.v_proj": "v_proj",
             "self_attn.o_proj": "attn_out", "input_layernorm": "attn_norm", "post_attention_layernorm": "ff_norm",
             "mlp.gate_proj": "ff_proj", "mlp.up_proj": "up_proj", "mlp.down_proj": "ff_out"}
_TO_LLADA_TOP = {"model.embed_tokens.weight": "model.transformer.wte.weight",
                 "lm_head.weight": "model.transformer.ff_out.weight", "model.norm.weight": "model.transformer.ln_f.weight"}


def tiny_config(layout, vocab_size, layers=2, hidden=64, heads=4, kv_heads=None, head_dim=16, mlp=96):
    return MeDlmConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=mlp, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=kv_heads or (2 if layout == "dream" else heads),
                       head_dim=head_dim, rms_norm_eps=1e-6 if layout == "dream" else 1e-5,
                       rope_theta=1e6 if layout == "dream" else 10000.0,
                       max_position_embeddings=131072 if layout == "dream" else 4096,
                       attention_bias=layout == "dream")


def random_model(cfg, seed=0):
    """A MeDlmModel with weights of realistic scale (unit embeddings, 0.1 projections, biases, norms near 1)."""
    torch.manual_seed(seed)
    m = MeDlmModel(cfg)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.endswith("layernorm.weight") or n == "model.norm.weight":
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif p.dim() >= 2:
                p.normal_(0.0, 1.0 if n == "model.embed_tokens.weight" else 0.1)
            else:
                p.normal_(0.0, 0.1)
    return m.eval()


def _tokenizer(layout, folder, extra_vocab=0):
    specials = DREAM_SPECIALS if layout == "dream" else tuple(SPECIAL_TOKENS.values())
    tok = train_tokenizer(list(TEXTS), num_merges=60, min_frequency=2, specials=specials)
    tok.save(os.path.join(folder, "tokenizer.json"))
    return tok, tok.vocab_size + extra_vocab


def _write_tensors(tensors, folder, shards, bf16):
    """Safetensors in the checkpoint's form: bf16 floats, sharded round-robin with an index when shards > 1."""
    names = sorted(tensors)
    kind = {k: "BF16" for k in names if tensors[k].dtype.kind == "f"} if bf16 else None
    if shards <= 1:
        st.save_file(tensors, os.path.join(folder, "model.safetensors"), {"format": "pt"}, kind)
        return
    weight_map = {}
    for s in range(shards):
        part = names[s::shards]
        fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        st.save_file({k: tensors[k] for k in part}, os.path.join(folder, fn), {"format": "pt"}, kind)
        weight_map.update({k: fn for k in part})
    total = sum(a.nbytes // (2 if bf16 else 1) for a in tensors.values())
    with open(os.path.join(folder, "model.safetensors.index.json"), "w", encoding="utf-8") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def _json(folder, name, obj):
    with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)


def config_json(layout, cfg, specials):
    """config.json with the keys the real checkpoints carry."""
    if layout == "dream":
        return {"architectures": ["DreamModel"], "model_type": "Dream", "attention_dropout": 0.0,
                "bos_token_id": specials["pad"], "eos_token_id": specials["pad"], "pad_token_id": specials["pad"],
                "mask_token_id": specials["mask"], "hidden_act": "silu", "hidden_size": cfg.hidden_size,
                "initializer_range": 0.02, "intermediate_size": cfg.intermediate_size,
                "max_position_embeddings": cfg.max_position_embeddings, "max_window_layers": cfg.num_hidden_layers,
                "num_attention_heads": cfg.num_attention_heads, "num_hidden_layers": cfg.num_hidden_layers,
                "num_key_value_heads": cfg.num_key_value_heads, "rms_norm_eps": cfg.rms_norm_eps,
                "rope_scaling": None, "rope_theta": cfg.rope_theta, "sliding_window": None,
                "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True,
                "use_sliding_window": False, "vocab_size": cfg.vocab_size}
    if layout == "llada":
        return {"architectures": ["LLaDAModelLM"], "model_type": "llada", "activation_type": "silu",
                "alibi": False, "attention_dropout": 0.0, "attention_layer_norm": False, "block_type": "llama",
                "d_model": cfg.hidden_size, "embedding_size": cfg.vocab_size, "include_bias": False,
                "include_qkv_bias": False, "input_emb_norm": False, "layer_norm_type": "rms",
                "mask_token_id": specials["mask"], "eos_token_id": specials["pad"], "pad_token_id": specials["pad"],
                "max_sequence_length": cfg.max_position_embeddings, "mlp_hidden_size": cfg.intermediate_size,
                "multi_query_attention": None, "n_heads": cfg.num_attention_heads,
                "n_kv_heads": cfg.num_key_value_heads, "n_layers": cfg.num_hidden_layers,
                "rms_norm_eps": cfg.rms_norm_eps, "rope": True, "rope_full_precision": True,
                "rope_theta": cfg.rope_theta, "scale_logits": False, "vocab_size": cfg.vocab_size,
                "weight_tying": False}
    return {"architectures": ["LLaDAModelLM"], "model_type": "llada", "hidden_act": "silu",
            "hidden_size": cfg.hidden_size, "intermediate_size": cfg.intermediate_size,
            "num_hidden_layers": cfg.num_hidden_layers, "num_attention_heads": cfg.num_attention_heads,
            "num_key_value_heads": cfg.num_key_value_heads, "head_dim": cfg.head_dim,
            "max_position_embeddings": cfg.max_position_embeddings, "rms_norm_eps": cfg.rms_norm_eps,
            "rope_theta": cfg.rope_theta, "rope_scaling": None, "attention_bias": False,
            "tie_word_embeddings": False, "vocab_size": cfg.vocab_size, "torch_dtype": "bfloat16"}


def checkpoint_tensors(layout, model):
    """{name in the layout's own naming: float32 array} of a model (next_token_head only for medlm)."""
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()
          if layout == "medlm" or k != "next_token_head.weight"}
    if layout != "llada":
        return sd
    out = {}
    for k, v in sd.items():
        if k in _TO_LLADA_TOP:
            out[_TO_LLADA_TOP[k]] = v
            continue
        layer, rest = k[len("model.layers."):].split(".", 1)
        part, kind = rest.rsplit(".", 1)
        out[f"model.transformer.blocks.{layer}.{_TO_LLADA[part]}.{kind}"] = v
    return out


def write_tiny_checkpoint(folder, layout, seed=0, shards=2, bf16=True, **shape):
    """Write a random checkpoint folder of `layout`; returns the MeDlmModel whose weights it holds
    (bf16-rounded when bf16, as the loader will read them)."""
    if layout not in st.LAYOUTS:
        raise ValueError(f"layout {layout!r} not in {st.LAYOUTS}")
    os.makedirs(folder, exist_ok=True)
    tok, vocab = _tokenizer(layout, folder, extra_vocab=0 if layout == "dream" else 7)
    cfg = tiny_config(layout, vocab, **shape)
    model = random_model(cfg, seed)
    if bf16:
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.bfloat16().float())
    if layout == "dream":
        specials = {"mask": tok.token_id("<|mask|>"), "pad": tok.token_id("<|endoftext|>")}
        _json(folder, "tokenizer_config.json", {"bos_token": None, "eos_token": "<|endoftext|>",
                                                "pad_token": "<|endoftext|>", "mask_token": "<|mask|>",
                                                "model_max_length": cfg.max_position_embeddings,
                                                "tokenizer_class": "DreamTokenizer"})
        _json(folder, "generation_config.json", {"bos_token_id": specials["pad"], "eos_token_id": specials["pad"],
                                                 "pad_token_id": specials["pad"], "mask_token_id": specials["mask"]})
    else:
        specials = {"mask": tok.token_id(SPECIAL_TOKENS["mask"]), "pad": tok.token_id(SPECIAL_TOKENS["pad"])}
    _json(folder, "config.json", config_json(layout, cfg, specials))
    _write_tensors(checkpoint_tensors(layout, model), folder, shards, bf16)
    return model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layout", choices=st.LAYOUTS, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--fp32", action="store_true", help="float32 tensors instead of bfloat16")
    p.add_argument("--layers", type=int, default=2)
    a = p.parse_args(argv)
    m = write_tiny_checkpoint(a.out, a.layout, a.seed, a.shards, not a.fp32, layers=a.layers)
    print(f"wrote {a.out}: {a.layout}, {m.num_parameters()} parameters")


if __name__ == "__main__":
    np.seterr(all="raise")
    main()
