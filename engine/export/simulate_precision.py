#!/usr/bin/python3
"""A precision proxy: a copy of a bundle whose graphs store every tensor as a reduced-precision
TensorRT engine stores it, for ONNX Runtime's CPU provider to run here, where no GPU is.

    /usr/bin/python3 engine/export/simulate_precision.py --precision fp16 BUNDLE OUT
    /usr/bin/python3 engine/export/simulate_precision.py --precision fp8 engine/models/demo /tmp/demo-fp8

Formats (--precision):
  fp16  IEEE half: 10 mantissa bits, largest 65504; what tensorrt.precision fp16 builds.
  bf16  bfloat16: 7 mantissa bits, fp32's range; what tensorrt.precision bf16 builds.
  fp8   e4m3 (FN): 3 mantissa bits, largest 448; no tensorrt.precision builds it: it is the
        control, coarse enough that the check must fail it.
  e4mN  e4m3's range with N = 0..2 mantissa bits: coarser controls, for a model whose
        answers survive fp8.

What the proxy does, and what it assumes of TensorRT (docs/jetson.md, "How fp16 was measured"):

- Every floating-point weight is rounded to the format, and every floating-point tensor a
  node writes is rounded to it and back to fp32 (a Cast pair for fp16 and bf16; for the
  8-bit formats, arithmetic: onnx 1.12 and opset 17 have no float8 type). So what one node
  reads is exactly what an engine that stores tensors in the format would read.
- Arithmetic inside a node stays fp32: a matrix product accumulates in fp32, a softmax sums
  in fp32. TensorRT's fp16 kernels accumulate in fp32 too, but it may pick a tactic that
  accumulates in fp16, and it fuses chains of element-wise nodes into one kernel that
  rounds once instead of after each node; the proxy shows neither.
- What TensorRT computes in fp32 stays fp32: a LayerNormalization node is one node, computed
  in fp32 here as TensorRT's normalization layer computes it by default (nova's layer norms,
  and act-v1's RMS norms, which the exporter writes as one); its output is stored in the
  format. An RMS norm written out as Pow, ReduceMean, Sqrt (act-v1 bundles exported before
  the norm was one node) is rounded node by node: under fp16 TensorRT gives no guarantee
  that it keeps those nodes in fp32.
- Graph inputs are rounded where they enter (the engine reads fp32 bindings and converts),
  outputs are read rounded (an engine's output is computed in the format).

The result is an ordinary bundle: its own graphs and sha256s, `source` naming the bundle
and format it proxies, the original's check set (the fp32 reference) carried along, so
`hrmd verify --model OUT` holds the proxy to the reference as a board holds its engine.
"""

import argparse
import hashlib
import os
import shutil
import sys

import numpy as np
import onnx
import yaml
from onnx import helper, numpy_helper, shape_inference

FLOAT = onnx.TensorProto.FLOAT



class Format:
    """A floating-point format: its mantissa bits, smallest normal exponent and largest finite
    number; what a number beyond that becomes (inf, as a Cast to fp16 or bf16 gives, or the
    largest, as a saturating Cast to float8 gives); and how the graph rounds to it."""

    def __init__(self, mantissa, min_exponent, largest, saturate, cast=None):
        self.mantissa, self.min_exponent, self.largest = mantissa, min_exponent, largest
        self.saturate, self.cast = saturate, cast


def e4_largest(mantissa):
    """The largest e4mN number with float8 e4m3fn's layout (bias 7, the top exponent kept for
    numbers): 1.11..1b x 2^8, but for e4m3, whose all-ones mantissa there is its NaN."""
    return 448.0 if mantissa == 3 else 2.0 ** 8 * (2 - 2.0 ** -mantissa)


# The prefix of the constants the arithmetic rounding reads.
ARITH_CONSTANT = "hrmd_e4_"

FORMATS = {
    "fp16": Format(10, -14, 65504.0, False, onnx.TensorProto.FLOAT16),
    "bf16": Format(7, -126, (2 - 2.0 ** -7) * 2.0 ** 127, False, onnx.TensorProto.BFLOAT16),
    "fp8": Format(3, -6, e4_largest(3), True),
    "e4m2": Format(2, -6, e4_largest(2), True),
    "e4m1": Format(1, -6, e4_largest(1), True),
    "e4m0": Format(0, -6, e4_largest(0), True),
}


def round_array(x, fmt):
    """fp32 values rounded to fmt and back, to nearest, ties to even, from the format's
    definition (a multiple of the quantum 2^(exponent - mantissa bits), the exponent no lower
    than the smallest normal's), in float64: the reference the graph's rounding is tested
    against, and how weights are rounded."""
    f = FORMATS[fmt]
    x = np.asarray(x, dtype=np.float32)
    a = np.abs(x).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log2(np.where((a > 0) & np.isfinite(a), a, 1.0)))
        quantum = 2.0 ** (np.maximum(exponent, f.min_exponent) - f.mantissa)
        out = np.round(a / quantum) * quantum  # numpy rounds halves to even
    over = out > f.largest
    out = np.where(over, f.largest if f.saturate else np.inf, out)
    out = np.where(np.isinf(a), np.inf if not f.saturate else f.largest, out)
    return np.where(np.isnan(x), x, np.copysign(out, x)).astype(np.float32)


class Rewriter:
    """Inserts the rounding after each floating-point tensor of one graph."""

    def __init__(self, model, fmt):
        self.fmt = fmt
        self.model = model
        inferred = shape_inference.infer_shapes(model, strict_mode=True)
        g = inferred.graph
        self.types = {v.name: v.type.tensor_type.elem_type for v in list(g.value_info) + list(g.input) + list(g.output)}
        for t in g.initializer:
            self.types[t.name] = t.data_type
        self.counter = 0

    def is_float(self, name):
        if name not in self.types:
            raise ValueError(f"the type of tensor {name!r} is unknown after shape inference")
        return self.types[name] == FLOAT

    def rounding_nodes(self, src, dst):
        """Nodes that compute dst = src rounded to the format."""
        self.counter += 1
        p = f"hrmd_round_{self.counter}"
        if FORMATS[self.fmt].cast is not None:
            return [
                helper.make_node("Cast", [src], [p + "_narrow"], name=p + "/narrow", to=FORMATS[self.fmt].cast),
                helper.make_node("Cast", [p + "_narrow"], [dst], name=p + "/widen", to=FLOAT),
            ]
        return self.arith_rounding(src, dst, p)

    def arith_constants(self):
        """The constants every arithmetic rounding reads (arith_rounding), as initializers
        named hrmd_e4_<name>: one set for the graph."""
        f = FORMATS[self.fmt]
        top = f.largest
        values = {"sigma": 2.0 ** (24 - f.mantissa - 1) + 1, "magic": 1.5 * 2.0 ** (23 - 6 - f.mantissa),
                  "smallest": 2.0 ** f.min_exponent, "top": top, "bottom": -top, "big": 2 * top, "small": -2 * top}
        return [numpy_helper.from_array(np.array(v, dtype=np.float32), ARITH_CONSTANT + k) for k, v in values.items()]

    def arith_rounding(self, src, dst, p):
        """Round to an e4mN format with fp32 arithmetic. Normal numbers: Veltkamp's split
        (c = x * (2^(24-N-1) + 1); x rounded = c - (c - x)) keeps the N+1 leading bits, to
        nearest. Below the smallest normal: (x + M) - M with M = 1.5 * 2^(23 - 6 + N) rounds
        to a multiple of 2^(-6-N), e4mN's subnormal step. Then saturate at the largest. x is
        first clipped to twice the largest, where the split cannot overflow and the result
        still saturates. The constants are arith_constants'."""
        c = ARITH_CONSTANT
        return [
            helper.make_node("Clip", [src, c + "small", c + "big"], [f"{p}_x"], name=f"{p}/clip"),
            helper.make_node("Mul", [f"{p}_x", c + "sigma"], [f"{p}_c"], name=f"{p}/c"),
            helper.make_node("Sub", [f"{p}_c", f"{p}_x"], [f"{p}_cx"], name=f"{p}/cx"),
            helper.make_node("Sub", [f"{p}_c", f"{p}_cx"], [f"{p}_normal"], name=f"{p}/normal"),
            helper.make_node("Add", [f"{p}_x", c + "magic"], [f"{p}_m"], name=f"{p}/m"),
            helper.make_node("Sub", [f"{p}_m", c + "magic"], [f"{p}_sub"], name=f"{p}/sub"),
            helper.make_node("Abs", [f"{p}_x"], [f"{p}_abs"], name=f"{p}/abs"),
            helper.make_node("Less", [f"{p}_abs", c + "smallest"], [f"{p}_tiny"], name=f"{p}/tiny"),
            helper.make_node("Where", [f"{p}_tiny", f"{p}_sub", f"{p}_normal"], [f"{p}_r"], name=f"{p}/where"),
            helper.make_node("Clip", [f"{p}_r", c + "bottom", c + "top"], [dst], name=f"{p}/saturate"),
        ]

    def rewrite(self):
        g = self.model.graph
        for t in g.initializer:
            if t.data_type == FLOAT:
                t.CopyFrom(numpy_helper.from_array(round_array(numpy_helper.to_array(t), self.fmt), t.name))
        if FORMATS[self.fmt].cast is None:
            g.initializer.extend(self.arith_constants())  # after the rounding above: they are exact
        out = []
        # Inputs are rounded where they enter: consumers read the rounded copy.
        renamed = {}
        for inp in g.input:
            if self.is_float(inp.name):
                renamed[inp.name] = inp.name + "__rounded"
                out += self.rounding_nodes(inp.name, renamed[inp.name])
        for n in g.node:
            for k, i in enumerate(n.input):
                if i in renamed:
                    n.input[k] = renamed[i]
            out.append(n)
            for k, o in enumerate(n.output):
                if o and self.is_float(o):
                    raw = o + "__fp32"
                    n.output[k] = raw
                    out += self.rounding_nodes(raw, o)
        del g.node[:]
        g.node.extend(out)
        # The old value_info names tensors that are now raw; shape inference writes new ones.
        del g.value_info[:]
        return self.model


def rewrite_graph(path, out_path, fmt):
    model = onnx.load(path)
    Rewriter(model, fmt).rewrite()
    onnx.checker.check_model(model)
    onnx.save(model, out_path)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def proxy_bundle(src, out, fmt):
    """Write the proxy of bundle src to out; return its manifest."""
    with open(os.path.join(src, "hrm.yaml")) as f:
        m = yaml.safe_load(f)
    if not m.get("check"):
        raise ValueError(f"{src}/hrm.yaml names no check set: a proxy is only useful held to one; "
                         f"add it with engine/export/hrm_export.py --add-check-set {src}")
    if os.path.exists(out) and os.listdir(out):
        raise ValueError(f"{out} exists and is not empty: give a new folder")
    os.makedirs(out, exist_ok=True)
    for role in ("init", "step"):
        g = m["graphs"][role]
        rewrite_graph(os.path.join(src, g["file"]), os.path.join(out, g["file"]), fmt)
        g["sha256"] = sha256_file(os.path.join(out, g["file"]))
    # Copies, never links: a later export into either folder must not change the other.
    shutil.copyfile(os.path.join(src, m["check"]["file"]), os.path.join(out, m["check"]["file"]))
    t = m.get("puzzle_embeddings")
    if t:
        shutil.copyfile(os.path.join(src, t["file"]), os.path.join(out, t["file"]))
        shutil.copyfile(os.path.join(src, t["identifiers"]), os.path.join(out, t["identifiers"]))
    # The bundle it proxies, by name and by the sha256 of its hrm.yaml (which hashes every file).
    m["source"] = dict(m["source"], proxy={"of": m["name"], "sha256": sha256_file(os.path.join(src, "hrm.yaml")),
                                           "precision": fmt})
    m["name"] = f"{m['name']}-{fmt}-proxy"
    with open(os.path.join(out, "hrm.yaml"), "w") as f:
        f.write(f"# hrmd model bundle: the {fmt} precision proxy of {m['source']['proxy']['of']}, "
                "written by engine/export/simulate_precision.py\n")
        yaml.safe_dump(m, f, sort_keys=False, default_flow_style=None, width=100)
    return m


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--precision", required=True, choices=list(FORMATS), help="the format to store tensors in")
    p.add_argument("bundle", help="the bundle to proxy (a folder with hrm.yaml and a check set)")
    p.add_argument("out", help="the proxy bundle's folder (new or empty)")
    args = p.parse_args(argv)
    try:
        m = proxy_bundle(args.bundle, args.out, args.precision)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {m['name']}, every tensor stored as {args.precision}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
