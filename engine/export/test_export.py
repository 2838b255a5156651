"""Exporter tests: /usr/bin/python3 -m unittest discover -s engine/export"""

import contextlib
import hashlib
import io
import json
import os
import sys
import tempfile
import unittest

import numpy as np
import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import arc  # noqa: E402
import bundle_io  # noqa: E402
import hrm_export  # noqa: E402
import nova  # noqa: E402
import nova_export  # noqa: E402
import onnx_numpy  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "testdata", "nova-tiny")
ARC_DIR = bundle_io.default_arc_dir()


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def arc_tokens(count):
    rows = []
    for split, task, index in bundle_io.GOLDEN_INPUTS[:count]:
        rows.append(arc.encode_arc_eos(bundle_io.load_arc_input(ARC_DIR, split, task, index)))
    return np.array(rows, dtype=np.int64)


def save_checkpoint(path, model, **extra):
    torch.save({"model_state_dict": model.state_dict(), "global_step": 1234, "epoch": 3,
                "config": {**model.config, "learning_rate": 3e-4},
                "optimizer_state_dict": {"state": {}}, **extra}, path)


class ExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.model = nova.random_model("tiny", seed=7)
        cls.out = os.path.join(cls.tmp.name, "bundle")
        source = {"checkpoint": "random-init:tiny:seed=7", "step": 0, "sha256": ""}
        cls.manifest = nova_export.write_bundle(cls.model, cls.out, "t7", source)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_reloaded_graphs_match_pytorch_per_cycle(self):
        tokens = arc_tokens(3)  # a batch of 3: the exported batch axis is dynamic
        init = onnx_numpy.Graph(os.path.join(self.out, "init.onnx"))
        step = onnx_numpy.Graph(os.path.join(self.out, "step.onnx"))
        h, l = init.run({"tokens": tokens})
        with torch.no_grad():
            want = self.model.trace(torch.from_numpy(tokens), 4)
        for cycle, (want_logits, want_halt) in enumerate(want):
            h, l, logits, halt = step.run({"h": h, "l": l})
            np.testing.assert_allclose(logits, want_logits.numpy(), atol=2e-4,
                                       err_msg=f"logits, cycle {cycle + 1}")
            np.testing.assert_allclose(halt, want_halt.numpy(), atol=1e-5,
                                       err_msg=f"halt, cycle {cycle + 1}")
            self.assertTrue((logits.argmax(-1) == want_logits.numpy().argmax(-1)).all())

    def test_manifest_names_and_hashes(self):
        with open(os.path.join(self.out, "hrm.yaml")) as f:
            m = yaml.safe_load(f)
        self.assertEqual(m["format"], "hrmd-bundle/1")
        self.assertEqual(m["family"], "nova")
        self.assertEqual((m["grid"], m["vocab"], m["hidden"]), (30, 12, 32))
        self.assertEqual(m["layers"], {"h": 1, "l": 1})
        for role, inputs, outputs in (("init", ["tokens"], ["h", "l"]),
                                      ("step", ["h", "l"], ["h_next", "l_next", "logits", "halt"])):
            g = m["graphs"][role]
            self.assertEqual(g["sha256"], sha256(os.path.join(self.out, g["file"])), role)
            self.assertEqual((g["inputs"], g["outputs"]), (inputs, outputs), role)
        self.assertEqual(m["carry"], {"h_next": "h", "l_next": "l"})
        self.assertEqual(m["halting"], {"output": "halt", "rule": "threshold", "threshold": 0.9,
                                        "min_cycles": 2, "max_cycles": 8})

    def test_bundle_names_its_check_set(self):
        with open(os.path.join(self.out, "hrm.yaml")) as f:
            m = yaml.safe_load(f)
        self.assertEqual(m["check"], {"file": "golden.json", "sha256": sha256(os.path.join(self.out, "golden.json"))})
        with open(os.path.join(self.out, "golden.json")) as f:
            g = json.load(f)
        self.assertEqual(g["format"], "hrmd-golden/2")
        self.assertEqual(len(g["cases"]), len(bundle_io.GOLDEN_INPUTS))

    def test_check_set_margins_are_the_top_two_logits_apart(self):
        """Each cell's margin is its largest logit less its second, cut down to the stored
        decimals: checked at the cells whose every logit the check set records."""
        with open(os.path.join(self.out, "golden.json")) as f:
            g = json.load(f)
        for case in g["cases"]:
            for c in case["cycles"]:
                self.assertEqual(len(c["margins"]), 900)
                self.assertTrue(all(m >= 0 for m in c["margins"]))
                for cell, logits in c["logits"].items():
                    top = sorted(logits)
                    want = top[-1] - top[-2]
                    got = c["margins"][int(cell)]
                    self.assertLessEqual(got, want + 1e-6, cell)
                    self.assertLess(want - got, 1.0 / bundle_io.MARGIN_SCALE + 1e-6, cell)

    def test_check_set_from_graphs_agrees_with_pytorch(self):
        """--add-check-set (the graphs run by onnx_numpy) gives the check set the
        PyTorch reference gives: the same argmax, halting cycle and grid."""
        with open(os.path.join(self.out, "hrm.yaml")) as f:
            m = yaml.safe_load(f)
        with open(os.path.join(self.out, "golden.json")) as f:
            want = json.load(f)
        got = bundle_io.check_set_from_graphs(self.out, m, bundle_io.default_arc_dir(), 2)
        for g, w in zip(got["cases"], want["cases"][:2]):
            with self.subTest(g["source"]):
                self.assertEqual((g["halt_cycle"], g["decoded"]), (w["halt_cycle"], w["decoded"]))
                for gc, wc in zip(g["cycles"], w["cycles"]):
                    self.assertEqual(gc["argmax"], wc["argmax"])
                    self.assertAlmostEqual(gc["halt"], wc["halt"], delta=1e-5)

    def test_add_check_set_replaces_a_format_1_set(self):
        """A check set without margins (format 1) is replaced; one of format 2 is kept."""
        with tempfile.TemporaryDirectory() as d:
            for name in ("init.onnx", "step.onnx"):
                with open(os.path.join(self.out, name), "rb") as src, open(os.path.join(d, name), "wb") as dst:
                    dst.write(src.read())
            with open(os.path.join(self.out, "golden.json")) as f:
                old = json.load(f)
            old["format"] = "hrmd-golden/1"
            for case in old["cases"]:
                for c in case["cycles"]:
                    del c["margins"]
            m = dict(self.manifest)
            bundle_io.write_check_set(d, m, old)
            bundle_io.write_manifest(d, m)
            self.assertEqual(hrm_export.main(["--add-check-set", d, "--check-cases", "1"]), 0)
            with open(os.path.join(d, "golden.json")) as f:
                self.assertEqual(json.load(f)["format"], "hrmd-golden/2")
            with self.assertRaises(ValueError):
                bundle_io.add_check_set(d, bundle_io.default_arc_dir(), 1)

    def test_add_check_set_to_an_old_bundle(self):
        with tempfile.TemporaryDirectory() as d:
            for name in ("init.onnx", "step.onnx"):
                with open(os.path.join(self.out, name), "rb") as src, open(os.path.join(d, name), "wb") as dst:
                    dst.write(src.read())
            m = dict(self.manifest)
            m.pop("check")
            bundle_io.write_manifest(d, m)
            self.assertEqual(hrm_export.main(["--add-check-set", d, "--check-cases", "1"]), 0)
            with open(os.path.join(d, "hrm.yaml")) as f:
                after = yaml.safe_load(f)
            self.assertEqual(after["check"]["sha256"], sha256(os.path.join(d, "golden.json")))
            self.assertEqual(after["graphs"], self.manifest["graphs"])
            with self.assertRaises(ValueError):
                bundle_io.add_check_set(d, bundle_io.default_arc_dir(), 1)

    def test_export_is_deterministic(self):
        with tempfile.TemporaryDirectory() as d:
            source = {"checkpoint": "random-init:tiny:seed=7", "step": 0, "sha256": ""}
            m = nova_export.write_bundle(nova.random_model("tiny", seed=7), d, "t7", source)
        self.assertEqual(m["graphs"], self.manifest["graphs"])


class CheckpointTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.model = nova.random_model("tiny", seed=11)

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def run_main(self, *argv):
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = hrm_export.main(list(argv))
        self.stdout = out.getvalue()
        return code, err.getvalue()

    def test_checkpoint_exports_with_its_step_and_hash(self):
        ckpt = self.path("hrm_arc_best.pt")
        save_checkpoint(ckpt, self.model)
        code, err = self.run_main("--checkpoint", ckpt, "--out", self.path("b"))
        self.assertEqual(code, 0, err)
        # How far it is goes to stderr, step by step and case by case; stdout is the one line scripts read.
        n = len(bundle_io.GOLDEN_INPUTS)
        want = [r"exporting init\.onnx and step\.onnx \.\.\.", r"exporting init\.onnx and step\.onnx: \d+\.\d s",
                rf"check set: {n} cases through the fp32 reference"]
        want += [rf"check set: case {i}/{n} \((training|evaluation)/\w+\.json\): \d+\.\d s" for i in range(1, n + 1)]
        want += [rf"check set: {n} cases: \d+\.\d s"]
        lines = [line for line in err.splitlines() if line.startswith("hrm_export: ")]  # not torch's warnings
        self.assertEqual(len(lines), len(want), err)
        for line, pattern in zip(lines, want):
            self.assertRegex(line, "^hrm_export: " + pattern + "$")
        self.assertRegex(self.stdout, r"^wrote [^\n]*/b: b, hidden 32, init [0-9a-f]{12}, step [0-9a-f]{12}\n$")
        with open(self.path("b/hrm.yaml")) as f:
            m = yaml.safe_load(f)
        self.assertEqual(m["source"], {"checkpoint": "hrm_arc_best.pt", "step": 1234, "sha256": sha256(ckpt)})
        self.assertEqual(m["hidden"], 32)
        loaded, step = nova.load_checkpoint(ckpt)
        for key, value in self.model.state_dict().items():
            self.assertTrue(torch.equal(loaded.state_dict()[key], value), key)

    def test_bad_checkpoints_are_refused_naming_the_key(self):
        def drop(state):
            del state["h_norm.weight"]

        def add(state):
            state["bogus.weight"] = torch.zeros(1)

        def reshape(state):
            state["output.weight"] = torch.zeros(10, 32)

        cases = [
            ("missing key", drop, "missing key(s): h_norm.weight"),
            ("extra key", add, "unexpected key(s): bogus.weight"),
            ("wrong shape", reshape, "output.weight has shape [10, 32], the model expects [12, 32]"),
        ]
        for name, mutate, want in cases:
            with self.subTest(name):
                state = self.model.state_dict()
                mutate(state)
                ckpt = self.path(name.replace(" ", "_") + ".pt")
                torch.save({"model_state_dict": state, "config": self.model.config}, ckpt)
                with self.assertRaises(nova.CheckpointError) as cm:
                    nova.load_checkpoint(ckpt)
                self.assertIn(want, str(cm.exception))
                code, err = self.run_main("--checkpoint", ckpt, "--out", self.path("never"))
                self.assertEqual(code, 2)
                self.assertIn(want, err)
                self.assertFalse(os.path.exists(self.path("never")))

    def test_plain_state_dict_is_refused(self):
        ckpt = self.path("plain.pt")
        torch.save(self.model.state_dict(), ckpt)
        with self.assertRaises(nova.CheckpointError) as cm:
            nova.load_checkpoint(ckpt)
        self.assertIn("no 'model_state_dict'", str(cm.exception))

    def test_not_a_checkpoint(self):
        ckpt = self.path("junk.pt")
        with open(ckpt, "w") as f:
            f.write("not a checkpoint")
        with self.assertRaises(nova.CheckpointError) as cm:
            nova.load_checkpoint(ckpt)
        self.assertIn("cannot be read as a PyTorch checkpoint", str(cm.exception))


class EncodingTest(unittest.TestCase):
    def test_arc_eos(self):
        cases = [
            ([[3]], {0: 5, 1: 1, 30: 1, 31: 0}),
            ([[0, 9], [4, 4]], {0: 2, 1: 11, 2: 1, 30: 6, 31: 6, 32: 1, 60: 1, 61: 1, 62: 0}),
            ([[1] * 30] * 30, {899: 3}),
        ]
        for grid, want in cases:
            tokens = arc.encode_arc_eos(grid)
            for cell, token in want.items():
                self.assertEqual(tokens[cell], token, (grid[:2], cell))
            self.assertEqual(arc.decode_arc_eos(tokens), grid)

    def test_decode_largest_rectangle(self):
        tokens = [0] * 900
        for c in range(5):  # row 0: 5 colours, rows 1-3: 3 colours
            tokens[c] = 2
        for r in range(1, 4):
            for c in range(3):
                tokens[r * 30 + c] = 3
        # 1x5 = 5 < 4x3 = 12
        self.assertEqual(arc.decode_arc_eos(tokens), [[0, 0, 0]] + [[1, 1, 1]] * 3)
        self.assertEqual(arc.decode_arc_eos([1] + [0] * 899), [])


class FixtureTest(unittest.TestCase):
    """The committed fixture is what `./build.sh fixtures` writes, and its golden
    file agrees with the reference forward's own halting."""

    def test_fixture_reproduces(self):
        with open(os.path.join(FIXTURE, "hrm.yaml")) as f:
            committed = yaml.safe_load(f)
        with tempfile.TemporaryDirectory() as d:
            m = nova_export.write_bundle(nova.random_model("tiny", seed=1), d, committed["name"],
                                        committed["source"])
        self.assertEqual(m["graphs"], committed["graphs"])

    def test_zero_fixture_reproduces_and_ignores_its_input(self):
        """engine/testdata/nova-zero: the tiny model with its output forced to
        colour 0, for the Go tests of the input-invariance probe."""
        zero = os.path.join(HERE, "..", "testdata", "nova-zero")
        with open(os.path.join(zero, "hrm.yaml")) as f:
            committed = yaml.safe_load(f)
        model = nova.random_model("tiny", seed=1)
        nova_export.force_constant_output(model, 0)
        with tempfile.TemporaryDirectory() as d:
            m = nova_export.write_bundle(model, d, committed["name"], committed["source"])
        self.assertEqual(m["graphs"], committed["graphs"])
        with torch.no_grad():
            logits, _ = model(torch.tensor(arc_tokens(2)))
        self.assertTrue(torch.all(logits.argmax(-1) == 2), "every cell must predict colour 0 (token 2)")

    def test_golden_agrees_with_reference_forward(self):
        with open(os.path.join(FIXTURE, "golden.json")) as f:
            golden = json.load(f)
        model = nova.random_model("tiny", seed=1)
        for case in golden["cases"]:
            with self.subTest(case["source"]):
                self.assertEqual(arc.encode_arc_eos(case["grid"]), case["tokens"])
                with torch.no_grad():
                    logits, halts = model(torch.tensor([case["tokens"]]))
                self.assertEqual(len(halts), case["halt_cycle"])
                self.assertEqual(logits[0].argmax(-1).tolist(),
                                 case["cycles"][case["halt_cycle"] - 1]["argmax"])
                self.assertEqual(arc.decode_arc_eos(logits[0].argmax(-1).tolist()), case["decoded"])


if __name__ == "__main__":
    unittest.main()
