"""Safetensors reading and writing with numpy only, and Hugging Face checkpoint folders -> MeDlmModel weights.

Format: 8-byte little-endian header length N, N bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin,
end]}, optional "__metadata__": {str: str}}, then the raw little-endian bytes (offsets relative to the byte after
the header). Real checkpoints are bfloat16, which numpy lacks: bf16 is the high half of a float32, so it is read
by shifting the 16 bits up.

Two parameter layouts are accepted: the Llama-style layout of ME-DLM checkpoints (model.layers.N.self_attn.q_proj,
... = model.py's names) and the original LLaDA layout (model.transformer.blocks.N.q_proj, ...), renamed on load.
"""
import contextlib
import json
import os
import re

import numpy as np
import torch

from model import MeDlmConfig

_NP = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "BF16": np.uint16}
_NAME = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.int64): "I64",
         np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8"}


def bf16_to_f32(bits):
    """uint16 bfloat16 bit patterns -> float32 (exact)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(x):
    """float32 -> uint16 bfloat16 bit patterns, rounding to nearest even (what torch's .bfloat16() does)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    return np.where(nan, 0x7FC0, rounded).astype(np.uint16)


def read_header(path):
    """(header dict without __metadata__, metadata dict, byte offset where data starts)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n).decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    return header, meta, 8 + n


def load_file(path, names=None, bf16="f32"):
    """{name: np.ndarray} of a .safetensors file. bf16="f32" converts bfloat16 to float32, "raw" keeps uint16 bits."""
    header, _, start = read_header(path)
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, info in header.items():
        if names is not None and name not in names:
            continue
        if info["dtype"] not in _NP:
            raise ValueError(f"{path}: {name} has unsupported dtype {info['dtype']}")
        b, e = info["data_offsets"]
        raw = np.array(buf[start + b:start + e])  # a private copy, so the memmap can close
        a = raw.view(np.dtype(_NP[info["dtype"]]).newbyteorder("<")).reshape(info["shape"])
        if info["dtype"] == "BF16" and bf16 == "f32":
            a = bf16_to_f32(a)
        out[name] = a.astype(a.dtype.newbyteorder("="), copy=False)
    del buf
    return out


def save_file(tensors, path, metadata=None, dtypes=None):
    """Write {name: np.ndarray}; dtypes may map a name to "BF16" to store a float array as bfloat16."""
    dtypes = dtypes or {}
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        if dtypes.get(name) == "BF16":
            dt, data = "BF16", f32_to_bf16(a).astype("<u2").tobytes()
        else:
            if a.dtype not in _NAME:
                raise ValueError(f"{name}: cannot store dtype {a.dtype}")
            dt, data = _NAME[a.dtype], np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-len(h)) % 8)  # the reference writer pads the header to 8 bytes with spaces
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for data in blobs:
            f.write(data)


# ---------------------------------------------------------------- Hugging Face folders

# Original LLaDA (OLMo-style) names -> the ME-DLM / model.py names.
_LLADA_RENAMES = [
    (r"model\.transformer\.wte\.weight", "model.embed_tokens.weight"),
    (r"model\.transformer\.ff_out\.weight", "lm_head.weight"),
    (r"model\.transformer\.ln_f\.weight", "model.norm.weight"),
    (r"model\.transformer\.blocks\.(\d+)\.q_proj\.weight", r"model.layers.\1.self_attn.q_proj.weight"),
    (r"model\.transformer\.blocks\.(\d+)\.k_proj\.weight", r"model.layers.\1.self_attn.k_proj.weight"),
    (r"model\.transformer\.blocks\.(\d+)\.v_proj\.weight", r"model.layers.\1.self_attn.v_proj.weight"),
    (r"model\.transformer\.blocks\.(\d+)\.attn_out\.weight", r"model.layers.\1.self_attn.o_proj.weight"),
    (r"model\.transformer\.blocks\.(\d+)\.attn_norm\.weight", r"model.layers.\1.input_layernorm.weight"),
    (r"model\.transformer\.blocks\.(\d+)\.ff_norm\.weight", r"model.layers.\1.post_attention_layernorm.weight"),
    (r"model\.transformer\.blocks\.(\d+)\.ff_proj\.weight", r"model.layers.\1.mlp.gate_proj.weight"),
    (r"model\.transformer\.blocks\.(\d+)\.up_proj\.weight", r"model.layers.\1.mlp.up_proj.weight"),
    (r"model\.transformer\.blocks\.(\d+)\.ff_out\.weight", r"model.layers.\1.mlp.down_proj.weight"),
]
# Original LLaDA config keys -> Hugging Face (Llama) keys that MeDlmConfig.from_dict reads.
_LLADA_CONFIG = {"d_model": "hidden_size", "n_heads": "num_attention_heads", "n_kv_heads": "num_key_value_heads",
                 "n_layers": "num_hidden_layers", "mlp_hidden_size": "intermediate_size",
                 "max_sequence_length": "max_position_embeddings"}


def rename(name):
    for pat, rep in _LLADA_RENAMES:
        if re.fullmatch(pat, name):
            return re.sub(pat, rep, name)
    return name


def hf_config(d):
    """MeDlmConfig from a config.json dict in either layout (LLaDA pads the embedding to embedding_size)."""
    d = dict(d)
    for old, new in _LLADA_CONFIG.items():
        if old in d and new not in d:
            d[new] = d[old]
    if d.get("embedding_size"):
        d["vocab_size"] = d["embedding_size"]
    for k in ("attention_bias", "include_bias"):
        if d.get(k):
            raise ValueError(f"config.json has {k}=true; model.py has no biases")
    if d.get("weight_tying") or d.get("tie_word_embeddings"):
        raise ValueError("tied embeddings are not supported (LLaDA and ME-DLM do not tie)")
    return MeDlmConfig.from_dict(d)


def checkpoint_files(folder):
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index, encoding="utf-8") as f:
            return sorted(set(json.load(f)["weight_map"].values()))
    if os.path.exists(os.path.join(folder, "model.safetensors")):
        return ["model.safetensors"]
    raise FileNotFoundError(f"{folder}: neither model.safetensors.index.json nor model.safetensors")


def load_hf_checkpoint(folder, dtype=np.float32):
    """(MeDlmConfig, state dict of torch tensors) from config.json + safetensors; float tensors cast to dtype.
    next_token_head is absent for a plain LLaDA checkpoint (export it as a stage-1-only package)."""
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        cfg = hf_config(json.load(f))
    state = {}
    for fn in checkpoint_files(folder):
        for name, a in load_file(os.path.join(folder, fn)).items():
            if a.dtype.kind == "f":
                a = a.astype(dtype, copy=False)
            state[rename(name)] = torch.from_numpy(np.ascontiguousarray(a))
    emb = state.get("model.embed_tokens.weight")
    if emb is not None and emb.shape[0] != cfg.vocab_size:
        raise ValueError(f"embedding has {emb.shape[0]} rows but config vocab_size is {cfg.vocab_size}")
    return cfg, state


def save_hf_checkpoint(model, folder, shards=1, bf16=False):
    """Write a MeDlmModel as a Hugging Face folder (config.json + safetensors, sharded with an index when
    shards > 1); used to test the loader, and handy to hand a trained model to other tools."""
    os.makedirs(folder, exist_ok=True)
    cfg = dict(model.config.to_dict(), architectures=["LLaDAForCausalLM"], model_type="llada",
               tie_word_embeddings=False, attention_bias=False)
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2)
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    names = sorted(sd)
    kind = {k: "BF16" for k in names} if bf16 else None
    if shards <= 1:
        save_file(sd, os.path.join(folder, "model.safetensors"), {"format": "pt"}, kind)
        return
    weight_map = {}
    for s in range(shards):
        part = names[s::shards]
        fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        save_file({k: sd[k] for k in part}, os.path.join(folder, fn), {"format": "pt"}, kind)
        weight_map.update({k: fn for k in part})
    total = sum(a.nbytes // (2 if bf16 else 1) for a in sd.values())
    with open(os.path.join(folder, "model.safetensors.index.json"), "w", encoding="utf-8") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


@contextlib.contextmanager
def no_init():
    """Skip the random initialisation of Linear/Embedding while building a model whose weights are loaded
    next (an 8B model would otherwise spend minutes and its full size in memory on throwaway values)."""
    lin, emb = torch.nn.Linear.reset_parameters, torch.nn.Embedding.reset_parameters
    torch.nn.Linear.reset_parameters = lambda self: None
    torch.nn.Embedding.reset_parameters = lambda self: None
    try:
        yield
    finally:
        torch.nn.Linear.reset_parameters, torch.nn.Embedding.reset_parameters = lin, emb
