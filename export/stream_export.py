"""Streaming export of a Hugging Face checkpoint folder to a model package in bounded memory.

The graphs are built directly with onnx.helper (no torch tracing, no module): every weight is an external
initializer whose bytes are read from the safetensors files one tensor at a time (memory-mapped, in row
chunks), converted (bf16 -> float32 / float16 / MatMulNBits int8 or int4 blocks), pre-transposed for MatMul
and written straight into `<graph>.onnx.data`. The model is never held in memory, not even once: the peak is a
few times the largest single tensor (the embedding / lm_head), flat in the number of layers.

Numerics follow model.py: in a float16 package the weights, matmuls and residual stream are float16 while
RMSNorm, RoPE, the attention softmax (with its padding bias) and all reductions run in float32 inside the graph.
Quantized packages (int8 / int4) keep float32 (or float16) activations and quantize the linear layers'
weights only, symmetric per block of `block_size` input features (ONNX Runtime's com.microsoft MatMulNBits,
zero point 2^(bits-1)); the embedding stays in the activation dtype; the heads are quantized with
--quantize-heads (default: on).

  python3 export/stream_export.py --hf-checkpoint DIR --out PKG --dtype float16
  python3 export/stream_export.py --hf-checkpoint DIR --out PKG --weights int4 --block-size 32
"""
import argparse
import errno
import json
import os
import shutil
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import export_onnx as E
import safetensors_io as st

OPSET = 17
MS_DOMAIN = "com.microsoft"
WEIGHT_KINDS = ("float", "int8", "int4")  # "float" = the package dtype
_TP = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float16): TensorProto.FLOAT16,
       np.dtype(np.uint8): TensorProto.UINT8, np.dtype(np.int64): TensorProto.INT64}
CHUNK_ELEMENTS = 1 << 24  # rows are converted this many elements at a time (64 MB of float32)
ALIGN = 64


class DiskFull(RuntimeError):
    pass


# ---------------------------------------------------------------- weight conversion


def _rows(entry):
    path, info, start = entry
    return info["shape"][0] if info["shape"] else 1


def _read_rows(entry, r0, r1):
    """Rows r0:r1 of a checkpoint tensor as float32 (memory-mapped; only these rows are touched)."""
    path, info, start = entry
    shape = info["shape"]
    row = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    dt = np.dtype(st._NP[info["dtype"]]).newbyteorder("<")
    b = info["data_offsets"][0] + r0 * row * dt.itemsize
    mm = np.memmap(path, dtype=dt, mode="r", offset=start + b, shape=((r1 - r0) * row,))
    a = st.bf16_to_f32(mm) if info["dtype"] == "BF16" else np.array(mm, dtype=np.float32)
    del mm
    return a.reshape([r1 - r0] + list(shape[1:]))


def _row_chunks(entry):
    path, info, _ = entry
    n = _rows(entry)
    row = int(np.prod(info["shape"][1:])) if len(info["shape"]) > 1 else 1
    step = max(1, CHUNK_ELEMENTS // max(row, 1))
    for r0 in range(0, n, step):
        yield r0, min(n, r0 + step)


def quantize_blocks(w, bits, block_size):
    """Symmetric block quantization of float32 rows w [N, K] along K: (packed uint8 [N, blocks, blob],
    scales float32 [N, blocks]); value = (q - 2^(bits-1)) * scale, q in 0..2^bits-1. int4 packs two per byte,
    the even element in the low nibble (MatMulNBits' layout)."""
    n, k = w.shape
    blocks = -(-k // block_size)
    pad = blocks * block_size - k
    if pad:
        w = np.concatenate([w, np.zeros((n, pad), np.float32)], axis=1)
    w = w.reshape(n, blocks, block_size)
    qmax = (1 << (bits - 1)) - 1
    absmax = np.abs(w).max(axis=-1)
    scale = (absmax / qmax).astype(np.float32)
    inv = np.where(scale > 0, 1.0 / np.where(scale > 0, scale, 1.0), 0.0).astype(np.float32)
    q = np.clip(np.rint(w * inv[..., None]), -qmax - 1, qmax).astype(np.int16) + (1 << (bits - 1))
    q = q.astype(np.uint8)
    if bits == 4:
        q = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)
    return q, scale


def dequantize_blocks(packed, scales, bits, k):
    """Inverse of quantize_blocks -> float32 [N, K] (for tests and the numpy interpreter)."""
    n, blocks, _ = packed.shape
    if bits == 4:
        q = np.empty((n, blocks, packed.shape[-1] * 2), np.uint8)
        q[..., 0::2] = packed & 0x0F
        q[..., 1::2] = packed >> 4
    else:
        q = packed
    w = (q.astype(np.float32) - (1 << (bits - 1))) * scales.reshape(n, blocks)[..., None]
    return w.reshape(n, -1)[:, :k]


class DataWriter:
    """Appends tensors to one external data file (64-byte aligned) and makes their TensorProtos."""

    def __init__(self, path, progress):
        self.path = path
        self.location = os.path.basename(path)
        self.f = open(path, "wb")
        self.progress = progress

    def _write(self, arr):
        pad = (-self.f.tell()) % ALIGN
        try:
            if pad:
                self.f.write(b"\0" * pad)
            self.f.write(memoryview(np.ascontiguousarray(arr)).cast("B"))
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise DiskFull(f"disk full while writing {self.path} ({self.f.tell() / 1e9:.2f} GB written)") from e
            raise

    def begin(self):
        pad = (-self.f.tell()) % ALIGN
        if pad:
            self._write(np.zeros(0, np.uint8))
        return self.f.tell()

    def tensor(self, name, dtype, shape, offset):
        t = TensorProto()
        t.name = name
        t.data_type = _TP[np.dtype(dtype)]
        t.dims.extend(int(d) for d in shape)
        t.data_location = TensorProto.EXTERNAL
        length = self.f.tell() - offset
        for k, v in (("location", self.location), ("offset", str(offset)), ("length", str(length))):
            e = t.external_data.add()
            e.key, e.value = k, v
        self.progress.done(name, length)
        return t

    def close(self):
        self.f.close()


class Progress:
    def __init__(self, total_tensors, total_bytes, stream=sys.stderr):
        self.n, self.total_n, self.bytes, self.total_bytes = 0, total_tensors, 0, total_bytes
        self.stream, self.t0, self.last = stream, time.time(), 0.0

    def done(self, name, nbytes):
        self.n += 1
        self.bytes += nbytes
        now = time.time()
        if self.stream is not None and (self.n == self.total_n or now - self.last >= 1.0):
            self.last = now
            frac = self.bytes / max(self.total_bytes, 1)
            bar = "#" * int(30 * frac)
            self.stream.write(f"\r[{bar:<30}] {self.n}/{self.total_n} tensors {self.bytes / 1e9:.2f}/"
                              f"{self.total_bytes / 1e9:.2f} GB {time.time() - self.t0:.0f}s {name[-48:]:<48}")
            if self.n == self.total_n:
                self.stream.write("\n")
            self.stream.flush()


def write_float(w, entry, name, dtype, transpose):
    """A checkpoint tensor as dtype, transposed ([out, in] -> [in, out]) for MatMul when asked."""
    shape = entry[1]["shape"]
    off = w.begin()
    if not transpose or len(shape) != 2:
        for r0, r1 in _row_chunks(entry):
            w._write(_read_rows(entry, r0, r1).astype(dtype))
        return w.tensor(name, dtype, shape, off)
    n, k = shape
    # the transpose needs the whole tensor once in the target dtype (rows converted chunk by chunk)
    full = np.empty((n, k), dtype)
    for r0, r1 in _row_chunks(entry):
        full[r0:r1] = _read_rows(entry, r0, r1)
    t = np.ascontiguousarray(full.T)
    del full
    w._write(t)
    del t
    return w.tensor(name, dtype, (k, n), off)


def write_quantized(w, entry, name, bits, block_size, scale_dtype):
    """(B, scales) initializers of MatMulNBits for a checkpoint [N, K] weight; rows quantized chunk by chunk."""
    n, k = entry[1]["shape"]
    blocks = -(-k // block_size)
    off = w.begin()
    scales = []
    for r0, r1 in _row_chunks(entry):
        q, s = quantize_blocks(_read_rows(entry, r0, r1), bits, block_size)
        w._write(q)
        scales.append(s.astype(scale_dtype))
    b = w.tensor(name + ".qweight", np.uint8, (n, blocks, block_size * bits // 8), off)
    off = w.begin()
    for s in scales:
        w._write(s)
    sc = w.tensor(name + ".scales", scale_dtype, (n * blocks,), off)
    return b, sc


# ---------------------------------------------------------------- graph building


class Graph:
    def __init__(self, writer, act):
        self.nodes, self.inits, self.w = [], [], writer
        self.act = np.dtype(act)
        self.n = 0

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def op(self, op, inputs, n_out=1, domain=None, **attrs):
        outs = [self.name(op) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=self.name(op + "_node"), domain=domain, **attrs))
        return outs[0] if n_out == 1 else outs

    def const(self, value, dtype=None):
        a = np.asarray(value, dtype=dtype)
        name = self.name("const")
        self.inits.append(numpy_helper.from_array(a, name))
        return name

    def to_f32(self, x):
        return x if self.act == np.float32 else self.op("Cast", [x], to=TensorProto.FLOAT)

    def to_act(self, x):
        return x if self.act == np.float32 else self.op("Cast", [x], to=_TP[self.act])


def _rmsnorm(g, x, weight, eps):
    xf = g.to_f32(x)
    ms = g.op("ReduceMean", [g.op("Mul", [xf, xf])], axes=[-1], keepdims=1)
    xn = g.op("Div", [xf, g.op("Sqrt", [g.op("Add", [ms, g.const(eps, np.float32)])])])
    return g.op("Mul", [weight, g.to_act(xn)])


class WeightSource:
    """Emits each linear layer as MatMul (pre-transposed float) or MatMulNBits (quantized)."""

    def __init__(self, g, tensors, kind, block_size):
        self.g, self.tensors, self.kind, self.block = g, tensors, kind, block_size

    def plain(self, name):
        t = write_float(self.g.w, self.tensors[name], name, self.g.act, transpose=False)
        self.g.inits.append(t)
        return name

    def linear(self, x, name, bias=None, quantize=True):
        g = self.g
        entry = self.tensors[name]
        n, k = entry[1]["shape"]
        if self.kind == "float" or not quantize:
            t = write_float(g.w, entry, name + "_t", g.act, transpose=True)
            g.inits.append(t)
            y = g.op("MatMul", [x, t.name])
        else:
            bits = 8 if self.kind == "int8" else 4
            b, s = write_quantized(g.w, entry, name, bits, self.block, g.act)
            g.inits.extend([b, s])
            y = g.op("MatMulNBits", [x, b.name, s.name], domain=MS_DOMAIN, K=k, N=n, bits=bits, block_size=self.block)
        if bias is not None:
            y = g.op("Add", [y, self.plain(bias)])
        return y


def _attention(g, ws, x, cfg, prefix, cos, sin, key_bias, shape_bs):
    nh, nkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    bias = (lambda p: f"{prefix}.self_attn.{p}_proj.bias") if cfg.attention_bias else (lambda p: None)

    def heads(p, count):
        y = ws.linear(x, f"{prefix}.self_attn.{p}_proj.weight", bias(p))
        y = g.op("Reshape", [y, g.const([0, 0, count, hd], np.int64)])
        return g.op("Transpose", [y], perm=[0, 2, 1, 3])  # [b, heads, s, hd]

    def rope(t):
        tf = g.to_f32(t)
        half = hd // 2
        lo = g.op("Slice", [tf, g.const([0], np.int64), g.const([half], np.int64), g.const([-1], np.int64)])
        hi = g.op("Slice", [tf, g.const([half], np.int64), g.const([hd], np.int64), g.const([-1], np.int64)])
        rot = g.op("Concat", [g.op("Neg", [hi]), lo], axis=-1)
        return g.to_act(g.op("Add", [g.op("Mul", [tf, cos]), g.op("Mul", [rot, sin])]))

    q, k, v = rope(heads("q", nh)), rope(heads("k", nkv)), heads("v", nkv)
    if nkv != nh:
        rep = nh // nkv
        # [b, kv, s, hd] -> [b, kv, rep, s, hd] -> [b, heads, s, hd]
        b_dim = g.op("Slice", [shape_bs, g.const([0], np.int64), g.const([1], np.int64)])
        s_dim = g.op("Slice", [shape_bs, g.const([1], np.int64), g.const([2], np.int64)])
        target = g.op("Concat", [b_dim, g.const([nkv, rep], np.int64), s_dim, g.const([hd], np.int64)], axis=0)
        merged = g.const([0, nh, -1, hd], np.int64)
        k = g.op("Reshape", [g.op("Expand", [g.op("Unsqueeze", [k, g.const([2], np.int64)]), target]), merged])
        v = g.op("Reshape", [g.op("Expand", [g.op("Unsqueeze", [v, g.const([2], np.int64)]), target]), merged])
    scores = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])])
    scores = g.op("Add", [g.op("Mul", [g.to_f32(scores), g.const(hd ** -0.5, np.float32)]), key_bias])
    probs = g.to_act(g.op("Softmax", [scores], axis=-1))
    y = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    y = g.op("Reshape", [y, g.const([0, 0, nh * hd], np.int64)])
    return ws.linear(y, f"{prefix}.self_attn.o_proj.weight")


def _mlp(g, ws, x, prefix):
    gate = ws.linear(x, f"{prefix}.mlp.gate_proj.weight")
    up = ws.linear(x, f"{prefix}.mlp.up_proj.weight")
    act = g.op("Mul", [gate, g.op("Sigmoid", [gate])])
    return ws.linear(g.op("Mul", [act, up]), f"{prefix}.mlp.down_proj.weight")


def _reduced_head(g, logits, form, special_ids=None, topk=None):
    """Reductions in float32: ("ids", "prob") for argmax; the top-K form's outputs for topk."""
    lf = g.to_f32(logits)
    m = g.op("ReduceMax", [lf], axes=[-1], keepdims=1)
    if form == "argmax":
        ids = g.op("ArgMax", [lf], axis=-1, keepdims=0)
        denom = g.op("ReduceSum", [g.op("Exp", [g.op("Sub", [lf, m])]), g.const([-1], np.int64)], keepdims=0)
        return ids, g.op("Reciprocal", [denom])
    values, ids = g.op("TopK", [lf, g.const([topk], np.int64)], n_out=2, axis=-1, largest=1, sorted=1)
    neg = g.op("Expand", [g.const(np.float32(-np.inf)), g.op("Shape", [ids])])
    rest = g.op("ScatterElements", [lf, ids, neg], axis=-1)
    special = g.op("Gather", [lf, g.const(special_ids, np.int64)], axis=-1)
    lse = g.op("ReduceLogSumExp", [rest], axes=[-1], keepdims=0)
    return ids, values, lse, special


def _io(name, elem, dims):
    return helper.make_tensor_value_info(name, elem, dims)


def _finish(g, inputs, outputs, path):
    graph = helper.make_graph(g.nodes, os.path.basename(path).split(".")[0], inputs, outputs, initializer=g.inits)
    opsets = [helper.make_opsetid("", OPSET)]
    if any(n.domain == MS_DOMAIN for n in g.nodes):
        opsets.append(helper.make_opsetid(MS_DOMAIN, 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="medlm-stream-export")
    model.ir_version = 8
    onnx.save_model(model, path)
    if not any(n.domain == MS_DOMAIN for n in g.nodes):
        onnx.checker.check_model(path)
    return model


def build_denoiser(path, tensors, cfg, act, kind, block, quantize_heads, form, special_ids, topk, progress):
    w = DataWriter(path + ".data", progress)
    try:
        g = Graph(w, act)
        ws = WeightSource(g, tensors, kind, block)
        elem = _TP[np.dtype(act)]
        ids, mask = "input_ids", "attention_mask"
        x = g.op("Gather", [ws.plain("model.embed_tokens.weight"), ids], axis=0)
        shape_bs = g.op("Shape", [ids])
        seq = g.op("Gather", [shape_bs, g.const(1, np.int64)], axis=0)
        pos = g.op("Cast", [g.op("Range", [g.const(0, np.int64), seq, g.const(1, np.int64)])], to=TensorProto.FLOAT)
        inv = 1.0 / (cfg.rope_theta ** (np.arange(0, cfg.head_dim, 2, dtype=np.float32) / cfg.head_dim))
        freqs = g.op("Mul", [g.op("Unsqueeze", [pos, g.const([1], np.int64)]), g.const(inv[None, :].astype(np.float32))])
        emb = g.op("Concat", [freqs, freqs], axis=-1)
        cos, sin = g.op("Cos", [emb]), g.op("Sin", [emb])
        keep = g.op("Cast", [mask], to=TensorProto.FLOAT)
        key_bias = g.op("Mul", [g.op("Sub", [g.const(1.0, np.float32), keep]), g.const(-1e9, np.float32)])
        key_bias = g.op("Unsqueeze", [key_bias, g.const([1, 2], np.int64)])
        for i in range(cfg.num_hidden_layers):
            p = f"model.layers.{i}"
            h = _rmsnorm(g, x, ws.plain(f"{p}.input_layernorm.weight"), cfg.rms_norm_eps)
            x = g.op("Add", [x, _attention(g, ws, h, cfg, p, cos, sin, key_bias, shape_bs)])
            h = _rmsnorm(g, x, ws.plain(f"{p}.post_attention_layernorm.weight"), cfg.rms_norm_eps)
            x = g.op("Add", [x, _mlp(g, ws, h, p)])
        hidden = _rmsnorm(g, x, ws.plain("model.norm.weight"), cfg.rms_norm_eps)
        logits = ws.linear(hidden, "lm_head.weight", quantize=quantize_heads)
        g.nodes.append(helper.make_node("Identity", [hidden], ["hidden_states"], name="hidden_out"))
        bs = ["batch", "seq"]
        if form == "full":
            g.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="logits_out"))
            outs = [_io("logits", elem, bs + [cfg.vocab_size]), _io("hidden_states", elem, bs + [cfg.hidden_size])]
        else:
            names = ("topk_ids", "topk_logits", "logsumexp_rest", "special_logits")
            for src, dst in zip(_reduced_head(g, logits, "topk", special_ids, topk), names):
                g.nodes.append(helper.make_node("Identity", [src], [dst], name=dst + "_out"))
            outs = [_io("topk_ids", TensorProto.INT64, bs + [topk]), _io("topk_logits", TensorProto.FLOAT, bs + [topk]),
                    _io("logsumexp_rest", TensorProto.FLOAT, bs),
                    _io("special_logits", TensorProto.FLOAT, bs + [len(special_ids)]),
                    _io("hidden_states", elem, bs + [cfg.hidden_size])]
    finally:
        w.close()
    _finish(g, [_io(ids, TensorProto.INT64, ["batch", "seq"]), _io(mask, TensorProto.INT64, ["batch", "seq"])],
            outs, path)


def build_edit_head(path, tensors, cfg, act, kind, block, quantize_heads, form, progress):
    w = DataWriter(path + ".data", progress)
    try:
        g = Graph(w, act)
        ws = WeightSource(g, tensors, kind, block)
        elem = _TP[np.dtype(act)]
        logits = ws.linear("hidden_states", "next_token_head.weight", quantize=quantize_heads)
        bs = ["batch", "seq"]
        if form == "full":
            g.nodes.append(helper.make_node("Identity", [logits], ["next_token_logits"], name="out"))
            outs = [_io("next_token_logits", elem, bs + [cfg.vocab_size])]
        else:
            ids, prob = _reduced_head(g, logits, "argmax")
            g.nodes.append(helper.make_node("Identity", [ids], ["next_token_ids"], name="ids_out"))
            g.nodes.append(helper.make_node("Identity", [prob], ["next_token_prob"], name="prob_out"))
            outs = [_io("next_token_ids", TensorProto.INT64, bs), _io("next_token_prob", TensorProto.FLOAT, bs)]
    finally:
        w.close()
    _finish(g, [_io("hidden_states", elem, ["batch", "seq", cfg.hidden_size])], outs, path)


# ---------------------------------------------------------------- estimate and package


def _out_bytes(shape, kind, act_size, block, quantized):
    n = int(np.prod(shape))
    if not quantized or kind == "float" or len(shape) != 2:
        return n * act_size
    bits = 8 if kind == "int8" else 4
    blocks = -(-shape[1] // block)
    return shape[0] * blocks * (block * bits // 8) + shape[0] * blocks * act_size


def estimate(tensors, kind, act_size, block, quantize_heads, edit_head):
    """(disk bytes of the package's weights, peak memory bytes) before anything is written."""
    disk, largest = 0, 0
    for name, (_, info, _) in tensors.items():
        if name == "next_token_head.weight" and not edit_head:
            continue
        shape = info["shape"]
        linear = len(shape) == 2 and name != "model.embed_tokens.weight"
        head = name in ("lm_head.weight", "next_token_head.weight")
        q = linear and (quantize_heads or not head)
        disk += _out_bytes(shape, kind, act_size, block, q)
        n = int(np.prod(shape))
        # a float transpose holds the tensor twice in the target dtype; a chunk adds CHUNK_ELEMENTS float32
        largest = max(largest, 2 * n * act_size if linear and not (q and kind != "float") else 0)
    return disk, largest + 3 * CHUNK_ELEMENTS * 4 + (300 << 20)


def export_streaming(folder, out, name=None, dtype="float32", weights="float", block_size=32, quantize_heads=True,
                     topk=None, edit_outputs="full", edit_head=None, tokenizer_path=None, gen_length=48, budget=1.0,
                     edit_share=0.25, max_seq_len=None, progress_stream=sys.stderr):
    """Write a package from a Hugging Face folder without loading the model; returns the manifest."""
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype {dtype!r}: float32 or float16")
    if weights not in WEIGHT_KINDS:
        raise ValueError(f"weights {weights!r}: one of {WEIGHT_KINDS}")
    if block_size < 16 or block_size & (block_size - 1):
        raise ValueError(f"block size {block_size}: a power of two >= 16 (MatMulNBits)")
    if edit_outputs not in ("full", "argmax"):
        raise ValueError(f"edit outputs {edit_outputs!r}: full or argmax")
    layout, cfg, tensors = st.inspect_checkpoint(folder)
    has_edit = "next_token_head.weight" in tensors
    edit_head = has_edit if edit_head is None else edit_head
    if edit_head and not has_edit:
        raise ValueError(f"{folder} has no next_token_head: export it without an edit head")
    if layout == "dream" and edit_head:
        raise ValueError("a Dream model has no edit head")
    _check_tensors(tensors, cfg, folder)
    tokenizer_path = tokenizer_path or os.path.join(folder, "tokenizer.json")
    if layout == "dream":
        specials = st.special_token_ids(folder, tokenizer_path)
    else:
        specials = E.special_tokens(E.Tokenizer.load(tokenizer_path))
    for k, v in specials.items():
        if v is not None and v >= cfg.vocab_size:
            raise ValueError(f"special token {k} = {v} is outside the model's vocab ({cfg.vocab_size})")
    if edit_head and (specials.get("delete") is None or specials.get("end") is None):
        raise ValueError("an edit-head package needs <|del|> and <|im_end|> in the tokenizer")
    act = np.float16 if dtype == "float16" else np.float32
    disk, memory = estimate(tensors, weights, np.dtype(act).itemsize, block_size, quantize_heads, edit_head)
    os.makedirs(out, exist_ok=True)
    free = shutil.disk_usage(out).free
    if progress_stream is not None:
        progress_stream.write(f"{layout} checkpoint, {cfg.num_hidden_layers} layers: writing ~{disk / 1e9:.2f} GB "
                              f"({dtype}, weights {weights}); peak memory ~{memory / 1e9:.2f} GB; "
                              f"{free / 1e9:.1f} GB free\n")
    if disk > free:
        raise DiskFull(f"{out}: the package needs ~{disk / 1e9:.2f} GB, only {free / 1e9:.2f} GB free")
    for f in ("denoiser.onnx", "denoiser.onnx.data", "edit_head.onnx", "edit_head.onnx.data"):
        if os.path.exists(os.path.join(out, f)):
            os.remove(os.path.join(out, f))
    n_tensors = sum(1 for n in tensors if edit_head or n != "next_token_head.weight")
    n_tensors += sum(1 for n, (_, i, _) in tensors.items() if weights != "float" and len(i["shape"]) == 2
                     and n != "model.embed_tokens.weight" and (edit_head or n != "next_token_head.weight")
                     and (quantize_heads or n not in ("lm_head.weight", "next_token_head.weight")))
    progress = Progress(n_tensors, disk, progress_stream)
    order = [specials[k] for k, _ in E.SPECIAL_ORDER if specials.get(k) is not None]
    try:
        build_denoiser(os.path.join(out, "denoiser.onnx"), tensors, cfg, act, weights, block_size, quantize_heads,
                       "topk" if topk else "full", order, topk, progress)
        entry = {"file": "denoiser.onnx", "outputs": "topk" if topk else "full", "external_data": "denoiser.onnx.data"}
        if topk:
            entry.update(topk=topk, special_ids=order)
        edit_entry = None
        if edit_head:
            build_edit_head(os.path.join(out, "edit_head.onnx"), tensors, cfg, act, weights, block_size,
                            quantize_heads, edit_outputs, progress)
            edit_entry = {"file": "edit_head.onnx", "external_data": "edit_head.onnx.data", "outputs": edit_outputs}
    except DiskFull:
        for f in ("denoiser.onnx", "denoiser.onnx.data", "edit_head.onnx", "edit_head.onnx.data"):
            if os.path.exists(os.path.join(out, f)):
                os.remove(os.path.join(out, f))
        raise
    if os.path.abspath(tokenizer_path) != os.path.abspath(os.path.join(out, "tokenizer.json")):
        shutil.copyfile(tokenizer_path, os.path.join(out, "tokenizer.json"))
    architecture = "dream" if layout == "dream" else ("medlm" if edit_head else "llada")
    manifest = E.build_manifest(name or os.path.basename(os.path.normpath(out)), cfg, specials, dtype, edit_head,
                                entry, edit_entry, gen_length, budget, edit_share, architecture, max_seq_len)
    if weights != "float":
        manifest["weights"] = {"quantization": weights, "block_size": block_size, "heads_quantized": quantize_heads,
                               "op": f"{MS_DOMAIN}.MatMulNBits"}
    E.validate_manifest(manifest, out)
    with open(os.path.join(out, E.MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return manifest


def _check_tensors(tensors, cfg, folder):
    """Every tensor model.py needs is present with its shape, and nothing else is there."""
    expected = _expected_shapes(cfg)
    missing = sorted(set(expected) - set(tensors) - {"next_token_head.weight"})
    unexpected = sorted(set(tensors) - set(expected))
    if missing:
        raise ValueError(f"missing tensors in {folder}: {missing[:5]}")
    if unexpected:
        raise ValueError(f"unexpected tensors in {folder}: {unexpected[:5]}")
    for n, (_, info, _) in tensors.items():
        if tuple(info["shape"]) != expected[n]:
            raise ValueError(f"{n}: shape {tuple(info['shape'])} in {folder}, {expected[n]} from config.json")


def _expected_shapes(cfg):
    h, v, m, hd = cfg.hidden_size, cfg.vocab_size, cfg.intermediate_size, cfg.head_dim
    nq, nkv = cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd
    out = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,), "lm_head.weight": (v, h),
           "next_token_head.weight": (v, h)}
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}"
        out.update({f"{p}.self_attn.q_proj.weight": (nq, h), f"{p}.self_attn.k_proj.weight": (nkv, h),
                    f"{p}.self_attn.v_proj.weight": (nkv, h), f"{p}.self_attn.o_proj.weight": (h, nq),
                    f"{p}.mlp.gate_proj.weight": (m, h), f"{p}.mlp.up_proj.weight": (m, h),
                    f"{p}.mlp.down_proj.weight": (h, m), f"{p}.input_layernorm.weight": (h,),
                    f"{p}.post_attention_layernorm.weight": (h,)})
        if cfg.attention_bias:
            out.update({f"{p}.self_attn.q_proj.bias": (nq,), f"{p}.self_attn.k_proj.bias": (nkv,),
                        f"{p}.self_attn.v_proj.bias": (nkv,)})
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hf-checkpoint", required=True, help="config.json + *.safetensors (+ tokenizer files)")
    p.add_argument("--out", required=True)
    p.add_argument("--name")
    p.add_argument("--tokenizer", help="tokenizer.json (default: the checkpoint's)")
    p.add_argument("--dtype", choices=("float32", "float16"), default="float32", help="activations and float weights")
    p.add_argument("--weights", choices=WEIGHT_KINDS, default="float", help="linear layers: float, int8 or int4")
    p.add_argument("--block-size", type=int, default=32, help="quantization block (input features per scale)")
    p.add_argument("--float-heads", action="store_true", help="keep lm_head / next_token_head unquantized")
    p.add_argument("--topk", type=int, help="denoiser outputs in the top-K form")
    p.add_argument("--edit-outputs", choices=("full", "argmax"), default="full",
                   help="edit head: full next_token_logits, or next_token_ids + next_token_prob per position")
    p.add_argument("--no-edit-head", action="store_true")
    p.add_argument("--gen-length", type=int, default=48)
    p.add_argument("--budget", type=float, default=1.0)
    p.add_argument("--edit-share", type=float, default=0.25)
    p.add_argument("--max-seq-len", type=int)
    a = p.parse_args(argv)
    try:
        m = export_streaming(a.hf_checkpoint, a.out, a.name, a.dtype, a.weights, a.block_size, not a.float_heads,
                             a.topk, a.edit_outputs, False if a.no_edit_head else None, a.tokenizer, a.gen_length,
                             a.budget, a.edit_share, a.max_seq_len)
    except (ValueError, FileNotFoundError, DiskFull) as e:
        sys.exit(f"error: {e}")
    print(f"wrote {a.out}: {m['architecture']} {m['dtype']} weights {a.weights} graphs {', '.join(m['graphs'])}")


if __name__ == "__main__":
    main()
