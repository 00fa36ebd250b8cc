"""Safetensors reading and writing with numpy only, and Hugging Face checkpoint folders -> MeDlmModel weights.

Format: 8-byte little-endian header length N, N bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin,
end]}, optional "__metadata__": {str: str}}, then the raw little-endian bytes (offsets relative to the byte after
the header). Real checkpoints are bfloat16, which numpy lacks: bf16 is the high half of a float32, so it is read
by shifting the 16 bits up.

Three checkpoint layouts are accepted (LAYOUTS): the Llama-style layout of ME-DLM checkpoints
(model.layers.N.self_attn.q_proj, ... = model.py's names), the original LLaDA layout
(model.transformer.blocks.N.q_proj, ...), renamed on load, and Dream (Qwen2 names, q/k/v biases).
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

# Three checkpoint layouts, told apart by config.json (and, for LLaDA, by the tensor names):
#   medlm  - Hugging Face LLaDA layout (model.layers.N.self_attn.q_proj, ...) + optional next_token_head (ME-DLM)
#   llada  - original GSAI-ML LLaDA (model.transformer.blocks.N.q_proj, ...), stage 1 only
#   dream  - Dream (Qwen2): q/k/v biases, grouped-query attention, untied lm_head, shifted logits
LAYOUTS = ("medlm", "llada", "dream")

# Original LLaDA (OLMo-style) names -> the ME-DLM / model.py names.
_LLADA_RENAMES = [
    (r"model\.transformer\.wte\.weight", "model.embed_tokens.weight"),
    (r"model\.transformer\.ff_out\.weight", "lm_head.weight"),
    (r"model\.transformer\.ln_f\.weight", "model.norm.weight"),
    (r"model\.transformer\.blocks\.(\d+)\.q_proj\.(weight|bias)", r"model.layers.\1.self_attn.q_proj.\2"),
    (r"model\.transformer\.blocks\.(\d+)\.k_proj\.(weight|bias)", r"model.layers.\1.self_attn.k_proj.\2"),
    (r"model\.transformer\.blocks\.(\d+)\.v_proj\.(weight|bias)", r"model.layers.\1.self_attn.v_proj.\2"),
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
# Original LLaDA config values model.py implements; anything else is a different architecture.
_LLADA_REQUIRED = {"alibi": (False, None), "rope": (True, None), "block_type": ("llama", None),
                   "layer_norm_type": ("rms", "rms_norm", None), "activation_type": ("silu", "swiglu", None),
                   "scale_logits": (False, None), "input_emb_norm": (False, None),
                   "attention_layer_norm": (False, None), "multi_query_attention": (False, None)}
_QK_NORM = re.compile(r".*\.(q_norm|k_norm|q_layernorm|k_layernorm|q_ln|k_ln)\.")
_QKV_BIAS = re.compile(r"model\.layers\.\d+\.self_attn\.[qkv]_proj\.bias")


def rename(name):
    for pat, rep in _LLADA_RENAMES:
        if re.fullmatch(pat, name):
            return re.sub(pat, rep, name)
    return name


def detect_layout(config, names=()):
    """One of LAYOUTS from a config.json dict (and the checkpoint's tensor names); ValueError otherwise."""
    archs = [str(a) for a in (config.get("architectures") or [])]
    model_type = str(config.get("model_type") or "").lower()
    if model_type == "dream" or any(a.startswith("Dream") for a in archs):
        return "dream"
    if model_type == "llada" or any("LLaDA" in a for a in archs) or "d_model" in config:
        return "llada" if any(n.startswith("model.transformer.") for n in names) or "d_model" in config else "medlm"
    raise ValueError(f"config.json: unsupported architecture {archs or model_type or 'unknown'} "
                     "(supported: LLaDA / ME-DLM (model_type llada) and Dream (model_type Dream))")


def hf_config(d, names=None):
    """MeDlmConfig from a config.json dict in any of LAYOUTS (LLaDA pads the embedding to embedding_size).
    With names (the checkpoint's tensor names) biases and QK-norm are detected from the tensors themselves."""
    layout = detect_layout(d, names or ())
    d = dict(d)
    for old, new in _LLADA_CONFIG.items():
        if old in d and new not in d:
            d[new] = d[old]
    if d.get("embedding_size"):
        d["vocab_size"] = d["embedding_size"]
    if d.get("rope_scaling"):
        raise ValueError(f"config.json has rope_scaling={d['rope_scaling']!r}; only plain RoPE is supported")
    if d.get("use_sliding_window"):
        raise ValueError("config.json has use_sliding_window=true; the graphs attend over the whole sequence")
    for k in ("qk_layernorm", "use_qk_norm", "qk_norm"):
        if d.get(k):
            raise ValueError(f"config.json has {k}=true; QK-norm is not supported")
    if d.get("hidden_act", "silu") != "silu":
        raise ValueError(f"config.json has hidden_act={d['hidden_act']!r}; only silu (SwiGLU) is supported")
    if layout == "llada":
        for k, allowed in _LLADA_REQUIRED.items():
            if d.get(k) not in allowed:
                raise ValueError(f"config.json has {k}={d.get(k)!r}; model.py implements {allowed[0]!r}")
    if d.get("weight_tying") or d.get("tie_word_embeddings"):
        raise ValueError("tied embeddings are not supported (LLaDA, ME-DLM and Dream do not tie)")
    bias_flag = bool(d.get("attention_bias") or d.get("include_bias") or d.get("include_qkv_bias"))
    if names is not None:
        names = [rename(n) for n in names]
        qk = [n for n in names if _QK_NORM.match(n)]
        if qk:
            raise ValueError(f"checkpoint has QK-norm tensors ({qk[0]}); QK-norm is not supported")
        other = [n for n in names if n.endswith(".bias") and not _QKV_BIAS.fullmatch(n)]
        if other:
            raise ValueError(f"checkpoint has a bias model.py lacks: {other[0]} (only q/k/v projection biases)")
        has_bias = any(_QKV_BIAS.fullmatch(n) for n in names)
        if bias_flag and not has_bias and not (layout == "dream"):
            raise ValueError("config.json declares biases but the checkpoint has no q/k/v bias tensors")
        d["attention_bias"] = has_bias
    else:
        d["attention_bias"] = layout == "dream" or bias_flag
    return MeDlmConfig.from_dict(d)


def checkpoint_files(folder):
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index, encoding="utf-8") as f:
            return sorted(set(json.load(f)["weight_map"].values()))
    if os.path.exists(os.path.join(folder, "model.safetensors")):
        return ["model.safetensors"]
    raise FileNotFoundError(f"{folder}: neither model.safetensors.index.json nor model.safetensors")


def checkpoint_tensors(folder):
    """{model.py name: (file path, header entry, data start)} of a checkpoint folder, without reading any data."""
    out = {}
    for fn in checkpoint_files(folder):
        path = os.path.join(folder, fn)
        header, _, start = read_header(path)
        for name, info in header.items():
            new = rename(name)
            if new in out:
                raise ValueError(f"{folder}: tensor {name} appears twice")
            out[new] = (path, info, start)
    return out


def read_config(folder):
    path = os.path.join(folder, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{folder}: no config.json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def inspect_checkpoint(folder):
    """(layout, MeDlmConfig, tensor table of checkpoint_tensors) of a Hugging Face folder; reads headers only."""
    config = read_config(folder)
    tensors = checkpoint_tensors(folder)
    raw_names = []
    for fn in checkpoint_files(folder):
        raw_names.extend(read_header(os.path.join(folder, fn))[0])
    layout = detect_layout(config, raw_names)
    cfg = hf_config(config, list(tensors))
    if layout == "llada" and "next_token_head.weight" in tensors:
        raise ValueError("an original-layout LLaDA checkpoint with a next_token_head is not a known layout")
    return layout, cfg, tensors


def read_tensor(entry, dtype=None):
    """One tensor of a checkpoint_tensors entry, memory-mapped and converted to dtype (float32 when the file
    holds bfloat16 and dtype is None). Only this tensor is read."""
    path, info, start = entry
    if info["dtype"] not in _NP:
        raise ValueError(f"{path}: dtype {info['dtype']} is not supported")
    b, e = info["data_offsets"]
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=start + b, shape=(e - b,)) if e > b \
        else np.zeros(0, np.uint8)
    a = raw.view(np.dtype(_NP[info["dtype"]]).newbyteorder("<")).reshape(info["shape"])
    if info["dtype"] == "BF16":
        a = bf16_to_f32(a)
    if dtype is not None and a.dtype != dtype:
        a = a.astype(dtype)
    elif isinstance(a, np.memmap) or a.dtype.byteorder not in ("=", "|"):
        a = np.array(a, dtype=a.dtype.newbyteorder("="))  # a private copy, so the file can close
    return a


def load_hf_checkpoint(folder, dtype=np.float32):
    """(MeDlmConfig, state dict of torch tensors) from config.json + safetensors; float tensors cast to dtype.
    next_token_head is absent for a plain LLaDA or Dream checkpoint (export it as a stage-1-only package)."""
    _, cfg, tensors = inspect_checkpoint(folder)
    state = {}
    for name, entry in tensors.items():
        a = read_tensor(entry)
        if a.dtype.kind == "f":
            a = a.astype(dtype, copy=False)
        state[name] = torch.from_numpy(np.ascontiguousarray(a))
    emb = state.get("model.embed_tokens.weight")
    if emb is not None and emb.shape[0] != cfg.vocab_size:
        raise ValueError(f"embedding has {emb.shape[0]} rows but config vocab_size is {cfg.vocab_size}")
    return cfg, state


def special_token_ids(folder, tokenizer_path=None):
    """Special ids a checkpoint's own tokenizer files name: {"mask", "pad", "eos"} (+ "end" = <|im_end|> when the
    vocabulary has it), from tokenizer_config.json's *_token entries, else config.json / generation_config.json
    *_token_id, checked against tokenizer.json's added tokens. Dream: <|mask|> 151666, <|endoftext|> 151643."""
    tokenizer_path = tokenizer_path or os.path.join(folder, "tokenizer.json")
    with open(tokenizer_path, encoding="utf-8") as f:
        tj = json.load(f)
    by_content = {t["content"]: t["id"] for t in tj.get("added_tokens", [])}
    by_id = {i: c for c, i in by_content.items()}
    files = {}
    for fn in ("tokenizer_config.json", "config.json", "generation_config.json"):
        if os.path.exists(os.path.join(folder, fn)):
            with open(os.path.join(folder, fn), encoding="utf-8") as f:
                files[fn] = json.load(f)
    out = {}
    for key in ("mask", "pad", "eos"):
        tc = files.get("tokenizer_config.json", {}).get(f"{key}_token")
        if isinstance(tc, dict):
            tc = tc.get("content")
        ids = {files[fn][f"{key}_token_id"] for fn in ("config.json", "generation_config.json")
               if isinstance(files.get(fn, {}).get(f"{key}_token_id"), int)}
        if tc is not None:
            if tc not in by_content:
                raise ValueError(f"tokenizer_config.json {key}_token {tc!r} is not an added token of {tokenizer_path}")
            if ids and ids != {by_content[tc]}:
                raise ValueError(f"{key} token: tokenizer_config.json says {tc!r} = {by_content[tc]}, "
                                 f"config says {sorted(ids)}")
            out[key] = by_content[tc]
        elif len(ids) == 1:
            i = ids.pop()
            if i not in by_id:
                raise ValueError(f"{key}_token_id {i} is not an added token of {tokenizer_path}")
            out[key] = i
        elif ids:
            raise ValueError(f"{key}_token_id differs between config.json and generation_config.json: {sorted(ids)}")
    if "eos" not in out and "pad" in out:
        out["eos"] = out["pad"]
    if "pad" not in out and "eos" in out:
        out["pad"] = out["eos"]
    missing = [k for k in ("mask", "pad") if k not in out]
    if missing:
        raise ValueError(f"{folder}: the tokenizer files name no {' / '.join(missing)} token")
    if "<|im_end|>" in by_content:
        out["end"] = by_content["<|im_end|>"]
    return out


def save_hf_checkpoint(model, folder, shards=1, bf16=False):
    """Write a MeDlmModel as a Hugging Face folder (config.json + safetensors, sharded with an index when
    shards > 1); used to test the loader, and handy to hand a trained model to other tools."""
    os.makedirs(folder, exist_ok=True)
    cfg = dict(model.config.to_dict(), architectures=["LLaDAForCausalLM"], model_type="llada",
               tie_word_embeddings=False, attention_bias=model.config.attention_bias)
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
