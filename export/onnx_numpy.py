"""A small numpy interpreter for the ONNX ops our exports use, to check an exported graph's numbers
without onnxruntime (not installable here for Python) and without trusting the exporter.

Only the op set that model.py exports to at opset 17 is implemented, with the ONNX semantics that matter
here (TopK ties to the lower index, Reshape 0 = copy the dim, integer Div truncates). An unknown op raises
NotImplementedError naming it, so a change in model.py that brings in a new op is noticed.
"""
import numpy as np
import onnx
from onnx import numpy_helper

_NP_TYPE = onnx.mapping.TENSOR_TYPE_TO_NP_TYPE


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _binary(f):
    def op(a, b):
        return f(a, b).astype(np.result_type(a, b), copy=False)
    return op


def _div(a, b):
    if np.issubdtype(a.dtype, np.integer):
        return np.trunc(a / b).astype(a.dtype)
    return (a / b).astype(a.dtype, copy=False)


def _unsqueeze(x, axes):
    rank = x.ndim + len(axes)
    for ax in sorted(int(a) % rank for a in axes):
        x = np.expand_dims(x, ax)
    return x


def _reshape(x, shape, allowzero=0):
    shape = [int(s) for s in shape]
    if not allowzero:
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _slice(x, starts, ends, axes=None, steps=None):
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    idx = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        idx[int(ax)] = slice(int(s), int(e), int(st))
    return x[tuple(idx)]


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype, copy=False)


def _topk(x, k, axis=-1, largest=1, sorted=1):
    k = int(np.asarray(k).reshape(-1)[0])
    order = np.argsort(-x if largest else x, axis=axis, kind="stable")  # ties: lower index first
    idx = np.take(order, np.arange(k), axis=axis)
    return np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64)


def _reduce(f):
    def op(x, axes=None, keepdims=1):
        ax = None if axes is None else tuple(int(a) for a in axes)
        return f(x, ax, bool(keepdims)).astype(x.dtype, copy=False)
    return op


def _logsumexp(x, ax, keep):
    m = np.max(x, axis=ax, keepdims=True)
    r = np.log(np.sum(np.exp(x - m), axis=ax, keepdims=True)) + m
    return r if keep else np.squeeze(r, axis=ax)


def _run_node(node, ins):
    a = _attrs(node)
    t = node.op_type
    if t == "Constant":
        if "value" in a:
            return [numpy_helper.to_array(a["value"])]
        for k, dt in (("value_float", np.float32), ("value_int", np.int64),
                      ("value_floats", np.float32), ("value_ints", np.int64)):
            if k in a:
                return [np.array(a[k], dtype=dt)]
        raise NotImplementedError(f"Constant with {list(a)}")
    simple = {
        "Add": _binary(np.add), "Sub": _binary(np.subtract), "Mul": _binary(np.multiply), "Div": _div,
        "Pow": lambda x, y: np.power(x, y).astype(x.dtype, copy=False),
        "MatMul": np.matmul, "Sqrt": np.sqrt, "Neg": np.negative, "Cos": np.cos, "Sin": np.sin,
        "Sigmoid": lambda x: (1.0 / (1.0 + np.exp(-x))).astype(x.dtype, copy=False),
        "Identity": lambda x: x, "Exp": np.exp, "Log": np.log,
        "Reciprocal": lambda x: (1.0 / x).astype(x.dtype, copy=False), "Equal": np.equal, "Where": np.where,
        "Expand": lambda x, s: x * np.ones([int(v) for v in s], dtype=x.dtype),
        "Range": lambda s, lim, d: np.arange(s, lim, d, dtype=np.asarray(s).dtype),
        "Unsqueeze": _unsqueeze,
        "Squeeze": lambda x, axes=None: np.squeeze(x, axis=None if axes is None else tuple(int(v) for v in axes)),
    }
    if t in simple:
        return [simple[t](*ins)]
    if t == "Cast":
        return [ins[0].astype(_NP_TYPE[a["to"]])]
    if t == "Shape":
        return [np.array(ins[0].shape[a.get("start", 0):a.get("end", None)], dtype=np.int64)]
    if t == "Gather":
        return [np.take(ins[0], ins[1], axis=a.get("axis", 0))]
    if t == "Concat":
        return [np.concatenate(ins, axis=a["axis"])]
    if t == "Transpose":
        return [np.transpose(ins[0], a.get("perm"))]
    if t == "Reshape":
        return [_reshape(ins[0], ins[1], a.get("allowzero", 0))]
    if t == "Slice":
        return [_slice(*ins)]
    if t == "Softmax":
        return [_softmax(ins[0], a.get("axis", -1))]
    if t == "ReduceMean":
        return [_reduce(lambda x, ax, k: np.mean(x, axis=ax, keepdims=k))(ins[0], a.get("axes"), a.get("keepdims", 1))]
    if t == "ReduceMax":
        return [_reduce(lambda x, ax, k: np.max(x, axis=ax, keepdims=k))(ins[0], a.get("axes"), a.get("keepdims", 1))]
    if t == "ReduceSum":  # opset 13+: axes is an input
        return [_reduce(lambda x, ax, k: np.sum(x, axis=ax, keepdims=k))(ins[0], ins[1] if len(ins) > 1 else None,
                                                                           a.get("keepdims", 1))]
    if t == "ArgMax":
        r = np.argmax(ins[0], axis=a.get("axis", 0))  # first maximum, as ONNX (select_last_index=0)
        return [(np.expand_dims(r, a.get("axis", 0)) if a.get("keepdims", 1) else r).astype(np.int64)]
    if t == "MatMulNBits":  # com.microsoft: B [N, blocks, blob] uint8, scales [N * blocks], no zero points
        from stream_export import dequantize_blocks
        n, k, bits = a["N"], a["K"], a["bits"]
        w = dequantize_blocks(ins[1], ins[2].astype(np.float32), bits, k)
        return [np.matmul(ins[0].astype(np.float32), w.T).astype(ins[0].dtype)]
    if t == "ReduceLogSumExp":
        return [_reduce(_logsumexp)(ins[0], a.get("axes"), a.get("keepdims", 1))]
    if t == "ConstantOfShape":
        v = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        return [np.full([int(s) for s in ins[0]], v.reshape(-1)[0], dtype=v.dtype)]
    if t == "TopK":
        return list(_topk(ins[0], ins[1], a.get("axis", -1), a.get("largest", 1), a.get("sorted", 1)))
    if t == "ScatterElements":
        if a.get("reduction", b"none") not in (b"none", "none"):
            raise NotImplementedError("onnx_numpy: ScatterElements with a reduction")
        out = ins[0].copy()
        np.put_along_axis(out, ins[1].astype(np.int64), ins[2], axis=a.get("axis", 0))
        return [out]
    raise NotImplementedError(f"onnx_numpy: op {t} ({node.name})")


def op_types(model):
    return sorted({n.op_type for n in model.graph.node})


def run(model, feeds):
    """Evaluate a ModelProto (or a path; external data is loaded) on {input name: array}; returns {output: array}."""
    if isinstance(model, str):
        model = onnx.load(model)
    env = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env.update({k: np.asarray(v) for k, v in feeds.items()})
    for node in model.graph.node:
        ins = [env[n] if n else None for n in node.input]
        while ins and ins[-1] is None:
            ins.pop()
        with np.errstate(over="ignore", under="ignore"):
            outs = _run_node(node, ins)
        for name, value in zip(node.output, outs):
            env[name] = np.asarray(value)
    return {o.name: env[o.name] for o in model.graph.output}
