"""Precision proxy tests: /usr/bin/python3 -m unittest test_precision (in engine/export)"""

import json
import os
import sys
import tempfile
import unittest

import numpy as np
import onnx
import yaml
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import onnx_numpy  # noqa: E402
import simulate_precision as sp  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "..", "testdata", "nova-tiny")


def probe_values():
    """Values that find a rounding's mistakes: ties between two neighbours of every format,
    their neighbours, subnormals, the largest numbers and beyond, signs, and a spread."""
    v = [0.0, -0.0, 1.0, -1.0, 1.0625, 1.1875, 1.5, 2.5, 3.5, 0.1, 1 / 3, 447.0, 448.0, 460.0, 480.0, 500.0,
         65504.0, 65519.0, 65520.0, 1e5, 2.0 ** -6, 2.0 ** -7, 2.0 ** -9, 3 * 2.0 ** -10, 2.0 ** -14, 2.0 ** -24,
         2.0 ** -25, 3 * 2.0 ** -25, 1e-30, 3.4e38]
    for m in (10, 7, 3, 2, 1, 0):  # halfway between 1 and the next number of each format, and beside it
        half = 1 + 2.0 ** -(m + 1)
        v += [half, np.nextafter(np.float32(half), np.float32(2)), np.nextafter(np.float32(half), np.float32(0)),
              3 * half, 1 + 3 * 2.0 ** -(m + 1)]
    rng = np.random.default_rng(7)
    v += list(rng.normal(0, 3, 2000)) + list(rng.normal(0, 300, 500)) + list(rng.normal(0, 1e-3, 500))
    v = np.array(v, dtype=np.float32)
    return np.concatenate([v, -v])


def probe_graph(path):
    """y = x - 0: one node, so that the proxy rounds the input where it enters and the output."""
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n"])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n"])
    zero = numpy_helper.from_array(np.zeros(1, dtype=np.float32), "zero")
    g = helper.make_graph([helper.make_node("Sub", ["x", "zero"], ["y"])], "probe", [x], [y], [zero])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)


class RoundingTest(unittest.TestCase):
    def test_reference_rounding_knows_the_formats(self):
        """round_array, from the formats' definitions, agrees with numpy's own float16, and with
        values read off the formats' tables."""
        v = probe_values()
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(sp.round_array(v, "fp16"), v.astype(np.float16).astype(np.float32))
        for fmt, x, want in [
            ("fp8", 1.0625, 1.0), ("fp8", 1.1875, 1.25), ("fp8", 460.0, 448.0), ("fp8", 1e5, 448.0),
            ("fp8", 2.0 ** -10, 0.0), ("fp8", 3 * 2.0 ** -10, 2.0 ** -8), ("fp8", 0.1, 0.1015625),
            ("bf16", 1 + 2.0 ** -8, 1.0), ("bf16", 1 + 3 * 2.0 ** -8, 1 + 2.0 ** -6), ("bf16", 3.4e38, np.inf),
            ("e4m0", 3.0, 4.0), ("e4m0", 5.0, 4.0), ("e4m0", 1e4, 256.0), ("e4m1", 1.25, 1.0), ("e4m2", 1.125, 1.0),
        ]:
            with self.subTest(fmt=fmt, x=x):
                self.assertEqual(float(sp.round_array(np.float32(x), fmt)), want)
                self.assertEqual(float(sp.round_array(np.float32(-x), fmt)), -want)

    def test_graph_rounds_as_the_format_does(self):
        """The nodes the proxy inserts (Cast pairs; arithmetic for the 8-bit formats) round every
        probe value as the reference does, ties included."""
        v = probe_values()
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "probe.onnx")
            probe_graph(src)
            for fmt in sp.FORMATS:
                with self.subTest(fmt=fmt):
                    out = os.path.join(d, fmt + ".onnx")
                    sp.rewrite_graph(src, out, fmt)
                    with np.errstate(over="ignore"):
                        (got,) = onnx_numpy.Graph(out).run({"x": v})
                    np.testing.assert_array_equal(got, sp.round_array(v, fmt), err_msg=fmt)


class ProxyBundleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = os.path.join(cls.tmp.name, "nova-tiny-fp16")
        cls.manifest = sp.proxy_bundle(TINY, cls.out, "fp16")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_manifest_names_what_it_proxies(self):
        with open(os.path.join(self.out, "hrm.yaml")) as f:
            m = yaml.safe_load(f)
        with open(os.path.join(TINY, "hrm.yaml")) as f:
            orig = yaml.safe_load(f)
        self.assertEqual(m["name"], "nova-tiny-fp16-proxy")
        self.assertEqual(m["source"]["proxy"], {"of": "nova-tiny", "sha256": sp.sha256_file(os.path.join(TINY, "hrm.yaml")),
                                                "precision": "fp16"})
        self.assertEqual(m["check"], orig["check"])  # the fp32 reference, carried along unchanged
        for role in ("init", "step"):
            g = m["graphs"][role]
            self.assertEqual(g["sha256"], sp.sha256_file(os.path.join(self.out, g["file"])))
            self.assertNotEqual(g["sha256"], orig["graphs"][role]["sha256"])
            self.assertEqual((g["inputs"], g["outputs"]), (orig["graphs"][role]["inputs"], orig["graphs"][role]["outputs"]))
            onnx.checker.check_model(onnx.load(os.path.join(self.out, g["file"])))

    def test_refuses_a_folder_in_use_and_a_bundle_without_a_check_set(self):
        with self.assertRaises(ValueError):
            sp.proxy_bundle(TINY, self.out, "fp8")
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(TINY, "hrm.yaml")) as f:
                m = yaml.safe_load(f)
            del m["check"]
            with open(os.path.join(d, "hrm.yaml"), "w") as f:
                yaml.safe_dump(m, f)
            with self.assertRaises(ValueError) as e:
                sp.proxy_bundle(d, os.path.join(d, "out"), "fp16")
            self.assertIn("--add-check-set", str(e.exception))

    def test_every_tensor_is_rounded(self):
        """The proxy's step graph computes what the original computes with every weight, input and
        node output rounded to fp16: checked against a walk of the original graph that rounds
        after each node itself."""
        with open(os.path.join(TINY, "golden.json")) as f:
            case = json.load(f)["cases"][0]
        init = onnx_numpy.Graph(os.path.join(TINY, "init.onnx"))
        h, l_ = init.run({"tokens": np.array([case["tokens"]], dtype=np.int64)})
        feeds = {"h": h, "l": l_}
        (_, _, got, _) = onnx_numpy.Graph(os.path.join(self.out, "step.onnx")).run(feeds)
        want = rounded_walk(os.path.join(TINY, "step.onnx"), feeds, "fp16")
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
        (_, _, plain, _) = onnx_numpy.Graph(os.path.join(TINY, "step.onnx")).run(feeds)
        self.assertGreater(np.abs(plain - got).max(), 1e-4, "the proxy computes what fp32 does")


def rounded_walk(path, feeds, fmt):
    """The graph run by onnx_numpy's operators with every float weight, input and node output
    rounded to fmt: what the proxy must compute. Returns the logits."""
    g = onnx_numpy.Graph(path)
    env = {k: sp.round_array(v, fmt) if v.dtype == np.float32 else v for k, v in g.initializers.items()}
    env.update({k: sp.round_array(v, fmt) for k, v in feeds.items()})
    for node in g.model.graph.node:
        attrs = onnx_numpy._attrs(node)
        if node.op_type == "Constant":
            outs = (numpy_helper.to_array(attrs["value"]),)
        else:
            args = [env[n] if n else None for n in node.input]
            while args and args[-1] is None:
                args.pop()
            out = onnx_numpy.OPS[node.op_type](*args, **attrs)
            outs = out if isinstance(out, tuple) else (out,)
        for name, value in zip(node.output, outs):
            value = np.asarray(value)
            env[name] = sp.round_array(value, fmt) if value.dtype == np.float32 else value
    return env["logits"]


if __name__ == "__main__":
    unittest.main()
