"""A small numpy interpreter for the ONNX operators the exporter emits (nova and act-v1).

Debian has no Python ONNX Runtime, so the exporter's tests reload the exported
graphs with this independent implementation of the operator semantics and
compare with PyTorch. An operator it does not know is an error, never skipped.
"""

import numpy as np
import onnx
from onnx import numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _layer_norm(x, scale, bias=None, axis=-1, epsilon=1e-5, **_):
    axis = axis % x.ndim
    axes = tuple(range(axis, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + epsilon) * scale
    return y + bias if bias is not None else y


def _reshape(x, shape, allowzero=0):
    shape = [int(d) for d in shape]
    if not allowzero:
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


def _slice(x, starts, ends, axes=None, steps=None):
    axes = range(x.ndim) if axes is None else [int(a) % x.ndim for a in axes]
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.ndim
    for a, s, e, st in zip(axes, starts, ends, steps):
        index[a] = slice(int(s), int(min(e, np.iinfo(np.int64).max)), int(st))
    return x[tuple(index)]


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _gemm(a, b, c=None, alpha=1.0, beta=1.0, transA=0, transB=0):
    a = a.T if transA else a
    b = b.T if transB else b
    y = alpha * (a @ b)
    return y + beta * c if c is not None else y


def _shape(x, start=0, end=None):
    return np.array(x.shape[start:end], dtype=np.int64)


def _unsqueeze(x, axes):
    for a in sorted(int(a) % (x.ndim + len(axes)) for a in axes):
        x = np.expand_dims(x, a)
    return x


def _split(x, split=None, axis=0, num_outputs=None):
    # Opset 13-17: the sizes come as an optional second input; without it, equal parts.
    if split is None:
        parts = num_outputs or 1
        split = [x.shape[axis] // parts] * parts
    bounds = np.cumsum([int(s) for s in split])[:-1]
    return tuple(np.split(x, bounds, axis=axis))


def _constant_of_shape(shape, value=None):
    fill = numpy_helper.to_array(value) if value is not None else np.zeros(1, dtype=np.float32)
    return np.full([int(d) for d in shape], fill.reshape(-1)[0], dtype=fill.dtype)


def _expand(x, shape):
    # ONNX Expand broadcasts both ways: a 1 in shape keeps x's size.
    out = np.broadcast_shapes(x.shape, tuple(int(d) for d in shape))
    return np.broadcast_to(x, out).copy()


def _cast(x, to):
    if to == onnx.TensorProto.BFLOAT16:
        # numpy has no bfloat16: the value is kept as fp32, rounded to bfloat16's 8 significant
        # bits (to nearest, ties to even), which is what a Cast back to fp32 reads.
        bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
        rounded = ((bits + np.uint64(0x7FFF) + ((bits >> np.uint64(16)) & np.uint64(1))) & np.uint64(0xFFFF0000)).astype(np.uint32).view(np.float32)
        return np.where(np.isnan(x), x, rounded)
    return x.astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[to])


OPS = {
    "Add": lambda a, b: a + b,
    "Mul": lambda a, b: a * b,
    "Div": lambda a, b: (a // b) if np.issubdtype(a.dtype, np.integer) else a / b,
    "Sub": lambda a, b: a - b,
    "MatMul": np.matmul,
    "Relu": lambda x: np.maximum(x, 0),
    "Sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "Sqrt": np.sqrt,
    "Identity": lambda x: x,
    "Concat": lambda *xs, axis: np.concatenate(xs, axis=axis),
    "Gather": lambda x, i, axis=0: np.take(x, i, axis=axis),
    "Transpose": lambda x, perm=None: np.transpose(x, perm),
    "ReduceMean": lambda x, axes=None, keepdims=1: x.mean(
        axis=None if axes is None else tuple(axes), keepdims=bool(keepdims)),
    "Cast": _cast,
    "LayerNormalization": _layer_norm,
    "Reshape": _reshape,
    "Slice": _slice,
    "Softmax": _softmax,
    "Gemm": _gemm,
    "Shape": _shape,
    "Unsqueeze": _unsqueeze,
    "Neg": np.negative,
    "Pow": lambda x, y: np.power(x, y).astype(x.dtype),
    "Split": _split,
    "Equal": np.equal,
    "Where": np.where,
    "ConstantOfShape": _constant_of_shape,
    "Expand": _expand,
    "Abs": np.abs,
    "Less": np.less,
    "Clip": lambda x, lo=None, hi=None: np.clip(x, lo, hi),
}


class Graph:
    def __init__(self, path):
        self.model = onnx.load(path)
        self.path = path
        g = self.model.graph
        self.inputs = [i.name for i in g.input]
        self.outputs = [o.name for o in g.output]
        self.initializers = {t.name: numpy_helper.to_array(t) for t in g.initializer}

    def run(self, feeds):
        missing = [n for n in self.inputs if n not in feeds]
        if missing:
            raise KeyError(f"{self.path}: inputs not fed: {missing}")
        env = dict(self.initializers)
        env.update(feeds)
        for node in self.model.graph.node:
            attrs = _attrs(node)
            if node.op_type == "Constant":
                env[node.output[0]] = numpy_helper.to_array(attrs["value"])
                continue
            op = OPS.get(node.op_type)
            if op is None:
                raise NotImplementedError(f"{self.path}: operator {node.op_type} ({node.name})")
            args = [env[n] if n else None for n in node.input]
            while args and args[-1] is None:
                args.pop()
            out = op(*args, **attrs)
            outs = out if isinstance(out, tuple) else (out,)
            for name, value in zip(node.output, outs):
                env[name] = value
        return [env[n] for n in self.outputs]
