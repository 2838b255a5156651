"""act-v1 exporter tests: /usr/bin/python3 -m unittest test_act_v1 (in engine/export)"""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

import numpy as np
import onnx
import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import act_export  # noqa: E402
import act_v1  # noqa: E402
import arc  # noqa: E402
import hrm_export  # noqa: E402
import onnx_numpy  # noqa: E402
from test_export import HERE, arc_tokens, sha256  # noqa: E402

FIXTURE = os.path.join(HERE, "..", "testdata", "act-v1-tiny")
ROWS = len(act_export.RANDOM_IDENTIFIERS)


def run_graphs(out, tokens, rows, steps):
    """init.onnx then steps of step.onnx, by onnx_numpy: [(logits, q)] and x."""
    init = onnx_numpy.Graph(os.path.join(out, "init.onnx"))
    step = onnx_numpy.Graph(os.path.join(out, "step.onnx"))
    x, z_h, z_l = init.run({"tokens": tokens, "puzzle_emb": rows})
    trace = []
    for _ in range(steps):
        z_h, z_l, logits, q = step.run({"x": x, "z_h": z_h, "z_l": z_l})
        trace.append((logits, q))
    return x, trace


def read_table(out, m):
    t = m["puzzle_embeddings"]
    return np.fromfile(os.path.join(out, t["file"]), dtype="<f4").reshape(t["shape"])


def assert_trace_close(test, got, want, logit_atol, q_atol):
    for step, ((logits, q), (want_logits, want_q)) in enumerate(zip(got, want), start=1):
        np.testing.assert_allclose(logits, want_logits.numpy(), atol=logit_atol, err_msg=f"logits, step {step}")
        np.testing.assert_allclose(q, want_q.numpy(), atol=q_atol, err_msg=f"q, step {step}")
        test.assertTrue((logits.argmax(-1) == want_logits.numpy().argmax(-1)).all(), f"argmax, step {step}")


class ActExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.model = act_v1.random_model("tiny", seed=7, num_puzzle_identifiers=ROWS)
        cls.out = os.path.join(cls.tmp.name, "bundle")
        source = {"checkpoint": "random-init:act-v1:tiny:seed=7", "step": 0, "sha256": ""}
        cls.manifest = act_export.write_bundle(cls.model, act_export.random_identifiers_bytes(), cls.out, "a7",
                                               source, check_cases=2)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_reloaded_graphs_match_the_module_per_step(self):
        tokens, ids = arc_tokens(3), [1, 0, 4]  # a batch of 3 rows, each with its own puzzle row
        rows = read_table(self.out, self.manifest)[ids]
        x, got = run_graphs(self.out, tokens, rows, 3)
        with torch.no_grad():
            want_x = self.model.inner.input_embeddings(torch.from_numpy(tokens), self.model.puzzle_rows(torch.tensor(ids)))
            want = self.model.trace(torch.from_numpy(tokens), torch.tensor(ids), 3)
        np.testing.assert_allclose(x, want_x.numpy(), atol=1e-6)
        assert_trace_close(self, got, want, 2e-4, 1e-5)

    def test_manifest_is_the_contract(self):
        with open(os.path.join(self.out, "hrm.yaml")) as f:
            m = yaml.safe_load(f)
        self.assertEqual((m["family"], m["encoding"], m["grid"], m["vocab"], m["hidden"]), ("act-v1", "arc-eos", 30, 12, 32))
        self.assertEqual(m["layers"], {"h": 1, "l": 1, "h_cycles": 2, "l_cycles": 2, "intermediate": 256})
        # intermediate is the width the module's SwiGLU really has
        mlp = self.model.inner.H_level.layers[0].mlp
        self.assertEqual(mlp.down_proj.weight.shape[1], m["layers"]["intermediate"])
        for role, inputs, outputs in (("init", ["tokens", "puzzle_emb"], ["x", "z_h", "z_l"]),
                                      ("step", ["x", "z_h", "z_l"], ["z_h_next", "z_l_next", "logits", "q"])):
            g = m["graphs"][role]
            self.assertEqual(g["sha256"], sha256(os.path.join(self.out, g["file"])), role)
            self.assertEqual((g["inputs"], g["outputs"]), (inputs, outputs), role)
        self.assertEqual(m["carry"], {"z_h_next": "z_h", "z_l_next": "z_l"})
        self.assertEqual(m["constants"], ["x"])
        self.assertEqual(m["halting"], {"output": "q", "rule": "q_compare", "threshold": 0,
                                        "min_cycles": 1, "max_cycles": 16})
        t = m["puzzle_embeddings"]
        self.assertEqual(t, {"file": "puzzle_emb.bin", "dtype": "float32", "shape": [ROWS, 32],
                             "sha256": sha256(os.path.join(self.out, "puzzle_emb.bin")),
                             "identifiers": "identifiers.json",
                             "identifiers_sha256": sha256(os.path.join(self.out, "identifiers.json")),
                             "input": "puzzle_emb"})
        np.testing.assert_array_equal(read_table(self.out, m), self.model.inner.puzzle_emb.weights.numpy())
        with open(os.path.join(self.out, "identifiers.json")) as f:
            self.assertEqual(json.load(f), list(act_export.RANDOM_IDENTIFIERS))
        self.assertEqual(m["check"]["sha256"], sha256(os.path.join(self.out, "golden.json")))

    def test_only_the_batch_axis_is_dynamic(self):
        want = {"tokens": [900], "puzzle_emb": [32], "x": [901, 32], "z_h": [901, 32], "z_l": [901, 32],
                "z_h_next": [901, 32], "z_l_next": [901, 32], "logits": [900, 12], "q": [2]}
        for name in ("init.onnx", "step.onnx"):
            g = onnx.load(os.path.join(self.out, name)).graph
            for t in list(g.input) + list(g.output):
                dims = t.type.tensor_type.shape.dim
                self.assertEqual(dims[0].dim_param, "batch", (name, t.name))
                self.assertEqual([d.dim_value for d in dims[1:]], want[t.name], (name, t.name))

    def test_table_stays_out_of_the_graphs(self):
        for name in ("init.onnx", "step.onnx"):
            g = onnx.load(os.path.join(self.out, name)).graph
            shapes = [list(t.dims) for t in g.initializer]
            self.assertNotIn([ROWS, 32], shapes, name)

    def test_check_set_records_q_and_the_puzzle(self):
        with open(os.path.join(self.out, "golden.json")) as f:
            g = json.load(f)
        self.assertEqual(g["format"], "hrmd-golden/2")
        self.assertEqual([c["puzzle"] for c in g["cases"]], ["007bbfb7", "3631a71a"])
        for case in g["cases"]:
            self.assertEqual(len(case["cycles"]), 16)
            for c in case["cycles"]:
                self.assertAlmostEqual(c["halt"], 1 / (1 + np.exp(-c["q"][0])), places=6)
            first = next((i + 1 for i, c in enumerate(case["cycles"]) if c["q"][0] > c["q"][1]), None)
            self.assertEqual(case["halt_cycle"], first or 16)
            self.assertEqual(case["halted_by"], "model" if first else "max_cycles")

    def test_export_is_deterministic(self):
        with tempfile.TemporaryDirectory() as d:
            model = act_v1.random_model("tiny", seed=7, num_puzzle_identifiers=ROWS)
            m = act_export.write_bundle(model, act_export.random_identifiers_bytes(), d, "a7",
                                        self.manifest["source"], check_cases=1)
        self.assertEqual(m["graphs"], self.manifest["graphs"])
        self.assertEqual(m["puzzle_embeddings"], self.manifest["puzzle_embeddings"])


class ActFixtureTest(unittest.TestCase):
    """engine/testdata/act-v1-tiny is what `./build.sh fixtures` writes, and our module
    reproduces its golden file."""

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(FIXTURE, "hrm.yaml")) as f:
            cls.committed = yaml.safe_load(f)
        cls.model = act_v1.random_model("tiny", seed=1, num_puzzle_identifiers=ROWS)

    def test_fixture_reproduces(self):
        with tempfile.TemporaryDirectory() as d:
            m = act_export.write_bundle(self.model, act_export.random_identifiers_bytes(), d,
                                        self.committed["name"], self.committed["source"], check_cases=1)
        self.assertEqual(m["graphs"], self.committed["graphs"])
        self.assertEqual(m["puzzle_embeddings"], self.committed["puzzle_embeddings"])

    def test_module_reproduces_the_golden(self):
        with open(os.path.join(FIXTURE, "golden.json")) as f:
            golden = json.load(f)
        with open(os.path.join(FIXTURE, "identifiers.json")) as f:
            rows = {n: i for i, n in enumerate(json.load(f))}
        self.assertEqual({c["halted_by"] for c in golden["cases"]}, {"model", "max_cycles"},
                         "the fixture should exercise both ways of stopping")
        for case in golden["cases"]:
            with self.subTest(case["source"]):
                self.assertEqual(arc.encode_arc_eos(case["grid"]), case["tokens"])
                with torch.no_grad():
                    trace = self.model.trace(torch.tensor([case["tokens"]]), torch.tensor([rows[case["puzzle"]]]))
                halt = 0
                for step, ((logits, q), want) in enumerate(zip(trace, case["cycles"]), start=1):
                    self.assertEqual(logits[0].argmax(-1).tolist(), want["argmax"], f"step {step}")
                    np.testing.assert_allclose(q[0].numpy(), want["q"], atol=1e-5, err_msg=f"step {step}")
                    halt = halt or (step if q[0, 0] > q[0, 1] else 0)
                self.assertEqual(halt or 16, case["halt_cycle"])
                self.assertEqual(arc.decode_arc_eos(case["cycles"][case["halt_cycle"] - 1]["argmax"]), case["decoded"])


def all_config(arch, data_path="data/arc-aug-1000"):
    """all_config.yaml as sapient's pretrain.py dumps it (the fields we read, and some we don't)."""
    return yaml.safe_dump({"arch": {"name": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1",
                                    "loss": {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"},
                                    "halt_exploration_prob": 0.1, **arch},
                           "data_path": data_path, "global_batch_size": 768, "lr": 1e-4})


class ActCheckpointTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.model = act_v1.random_model("tiny", seed=11, num_puzzle_identifiers=ROWS)

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def save(self, state=None, identifiers=True):
        """A step_N file as pretrain.py saves it from torch.compile(ACTLossHead(model))."""
        state = self.model.state_dict() if state is None else state
        # Their H_init/L_init are made in the forward dtype, bfloat16.
        state = {"_orig_mod.model." + k: (v.bfloat16() if k.endswith("_init") else v) for k, v in state.items()}
        torch.save(state, self.path("step_5200"))
        arch = {k: v for k, v in self.model.config.items() if k not in ("seq_len", "vocab_size", "num_puzzle_identifiers")}
        with open(self.path("all_config.yaml"), "w") as f:
            f.write(all_config(arch))
        if identifiers:
            with open(self.path("identifiers.json"), "wb") as f:
                f.write(act_export.random_identifiers_bytes())
        return self.path("step_5200")

    def run_main(self, *argv):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = hrm_export.main(["--family", "act-v1", "--check-cases", "1"] + list(argv))
        return code, err.getvalue()

    def test_checkpoint_loads_strictly_and_exports(self):
        ckpt = self.save()
        loaded, step = act_v1.load_checkpoint(ckpt)
        self.assertEqual(step, 5200)
        for key, value in self.model.state_dict().items():
            got = loaded.state_dict()[key]
            self.assertEqual(got.dtype, torch.float32, key)
            want = value.bfloat16().float() if key.endswith("_init") else value
            self.assertTrue(torch.equal(got, want), key)
        code, err = self.run_main("--checkpoint", ckpt, "--out", self.path("b"))
        self.assertEqual(code, 0, err)
        for line in (r"exporting init\.onnx and step\.onnx: \d+\.\d s", r"writing the puzzle table: \d+\.\d s",
                     r"check set: case 1/1 \(ARC-AGI-1 \w+/\w+\.json test\[\d\]\.input\): \d+\.\d s"):
            self.assertRegex(err, "(?m)^hrm_export: " + line + "$")
        with open(self.path("b/hrm.yaml")) as f:
            m = yaml.safe_load(f)
        self.assertEqual(m["source"], {"checkpoint": "step_5200", "step": 5200, "sha256": sha256(ckpt)})
        self.assertEqual(m["puzzle_embeddings"]["identifiers_sha256"], sha256(self.path("identifiers.json")))

    def test_bad_checkpoints_are_refused_naming_the_key(self):
        qkv = "inner.H_level.layers.0.self_attn.qkv_proj.weight"
        cases = [
            ("missing key", lambda s: s.pop("inner.L_init"), "missing key(s): inner.L_init"),
            ("extra key", lambda s: s.update({"inner.bogus": torch.zeros(1)}), "unexpected key(s): inner.bogus"),
            ("wrong shape", lambda s: s.update({qkv: torch.zeros(64, 32)}),
             f"{qkv} has shape [64, 32], the model expects [96, 32]"),
        ]
        for name, mutate, want in cases:
            with self.subTest(name):
                state = self.model.state_dict()
                mutate(state)
                ckpt = self.save(state)
                with self.assertRaises(act_v1.CheckpointError) as cm:
                    act_v1.load_checkpoint(ckpt)
                self.assertIn(want, str(cm.exception))
                code, err = self.run_main("--checkpoint", ckpt, "--out", self.path("never"))
                self.assertEqual(code, 2)
                self.assertIn(want, err)
                self.assertFalse(os.path.exists(self.path("never")))

    def test_identifiers_must_fit_the_table(self):
        ckpt = self.save(identifiers=False)
        code, err = self.run_main("--checkpoint", ckpt, "--out", self.path("never"))
        self.assertEqual(code, 2)
        self.assertIn("--identifiers", err)
        with open(self.path("ids.json"), "w") as f:
            json.dump(["<blank>", "007bbfb7"], f)
        code, err = self.run_main("--checkpoint", ckpt, "--identifiers", self.path("ids.json"), "--out", self.path("never"))
        self.assertEqual(code, 2)
        self.assertIn(f"names 2 puzzles; the checkpoint's table inner.puzzle_emb.weights has {ROWS} rows", err)
        self.assertFalse(os.path.exists(self.path("never")))

    def test_arch_flags_override_all_config(self):
        ckpt = self.save()
        with self.assertRaises(act_v1.CheckpointError) as cm:
            act_v1.load_checkpoint(ckpt, overrides=act_v1.parse_overrides(["hidden_size=64"]))
        self.assertIn("has shape", str(cm.exception))
        with self.assertRaises(act_v1.CheckpointError):
            act_v1.parse_overrides(["bogus=1"])


FULL_BUNDLES = ("HRMD_ACT_FULL_BUNDLE", "HRMD_ACT_SUDOKU_FULL_BUNDLE")


@unittest.skipUnless(any(map(os.environ.get, FULL_BUNDLES)) or os.environ.get("HRMD_REQUIRE_FULL_BUNDLE"),
                     "HRMD_ACT_FULL_BUNDLE is not set (./build.sh test exports the full-size act-v1 bundles)")
class ActFullSizeTest(unittest.TestCase):
    """The full-size random act-v1 bundles ./build.sh test exports (ARC's, and Sudoku's with
    learned positions and 8 steps, sapient's Full Sudoku-Hard recipe): their graphs, run by
    onnx_numpy, against our module for 2 steps on the first check-set input."""

    def test_graphs_match_the_module_for_two_steps(self):
        for env in FULL_BUNDLES:
            with self.subTest(env):
                out = os.environ.get(env)
                if not out and not os.environ.get("HRMD_REQUIRE_FULL_BUNDLE"):
                    self.skipTest(f"{env} is not set")
                self.assertTrue(out, f"HRMD_REQUIRE_FULL_BUNDLE is set but {env} is not")
                self.check_bundle(out)

    def check_bundle(self, out):
        with open(os.path.join(out, "hrm.yaml")) as f:
            m = yaml.safe_load(f)
        with open(os.path.join(out, "golden.json")) as f:
            case = json.load(f)["cases"][0]
        with open(os.path.join(out, "identifiers.json")) as f:
            row = json.load(f).index(case["puzzle"])
        model, task = act_export.random_model_of(m["source"]["checkpoint"])
        rows = model.config["num_puzzle_identifiers"]
        self.assertEqual((m["encoding"], m["puzzle_embeddings"]["shape"][0]), (task.encoding, rows))
        tokens = np.array([case["tokens"]], dtype=np.int64)
        _, got = run_graphs(out, tokens, read_table(out, m)[[row]], 2)
        with torch.no_grad():
            want = model.trace(torch.from_numpy(tokens), torch.tensor([row]), 2)
        assert_trace_close(self, got, want, 1e-3, 1e-4)
        for (logits, q), c in zip(want, case["cycles"]):
            self.assertEqual(logits[0].argmax(-1).tolist(), c["argmax"])
            np.testing.assert_allclose(q[0].numpy(), c["q"], atol=1e-5)


if __name__ == "__main__":
    unittest.main()
