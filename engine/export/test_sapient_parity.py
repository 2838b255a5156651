"""Parity with sapientinc/HRM's own class: the fixtures sapient_parity.py made from their
HierarchicalReasoningModel_ACTV1 (engine/testdata/sapient-*-tiny) against our exporter.
/usr/bin/python3 -m unittest test_sapient_parity (in engine/export); their source is not
needed here, only what the script wrote."""

import contextlib
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

import act_v1  # noqa: E402
import hrm_export  # noqa: E402
import tasks  # noqa: E402
from test_act_v1 import read_table, run_graphs  # noqa: E402
from test_export import HERE  # noqa: E402

# (fixture, task, pos_encodings): how engine/testdata/<fixture>/README.md says each was made.
FIXTURES = (("sapient-sudoku-tiny", "sudoku", "rope"), ("sapient-sudoku-learned-tiny", "sudoku", "learned"),
            ("sapient-maze-tiny", "maze", "rope"))
Q_ATOL = 1e-4


def fixture_dir(name):
    return os.path.join(HERE, "..", "testdata", name)


def load(name):
    d = fixture_dir(name)
    with open(os.path.join(d, "sapient_golden.json")) as f:
        golden = json.load(f)
    with open(os.path.join(d, "bundle", "hrm.yaml")) as f:
        manifest = yaml.safe_load(f)
    return d, golden, manifest


class SapientParityTest(unittest.TestCase):
    def for_each(self, check):
        for name, task, pos in FIXTURES:
            with self.subTest(name):
                check(tasks.TASKS[task], pos, *load(name))

    def assert_steps_equal(self, source, got, want):
        """got: [(argmax list, [q_halt, q_continue])], want: their steps."""
        self.assertEqual(len(got), len(want), source)
        for step, ((argmax, q), w) in enumerate(zip(got, want), start=1):
            self.assertEqual(argmax, w["argmax"], f"{source} step {step}: argmax")
            np.testing.assert_allclose(q, w["q"], atol=Q_ATOL, rtol=0, err_msg=f"{source} step {step}: q")

    def test_golden_is_the_task_s(self):
        self.for_each(self.check_golden_is_the_task_s)

    def check_golden_is_the_task_s(self, task, pos, d, golden, m):
        self.assertEqual((golden["task"], golden["pos_encodings"]), (task.name, pos))
        self.assertEqual([c["tokens"] for c in golden["cases"]],
                         [tasks.encode(task, grid) for _, grid in tasks.check_inputs(task)])
        halts = {next((i for i, s in enumerate(c["steps"]) if s["q"][0] > s["q"][1]), None) for c in golden["cases"]}
        self.assertGreater(len(halts), 1, "the fixture's cases should halt at different steps")
        self.assertEqual((m["grid"], m["vocab"], m["encoding"]), (task.side, task.vocab, task.name))

    def test_our_module_loads_their_checkpoint_and_matches_their_forward(self):
        self.for_each(self.check_module)

    def check_module(self, task, pos, d, golden, m):
        overrides = {"seq_len": task.seq_len, "vocab_size": task.vocab}
        model, _ = act_v1.load_checkpoint(os.path.join(d, "checkpoint", "step_1"), overrides=overrides)
        self.assertEqual(model.config["pos_encodings"], pos)
        tokens = torch.tensor([c["tokens"] for c in golden["cases"]])
        with torch.no_grad():
            trace = model.trace(tokens, torch.zeros(len(tokens), dtype=torch.long))
        for i, case in enumerate(golden["cases"]):
            got = [(logits[i].argmax(-1).tolist(), q[i].tolist()) for logits, q in trace]
            self.assert_steps_equal(case["source"], got, case["steps"])

    def test_exported_graphs_match_their_forward(self):
        self.for_each(self.check_graphs)

    def check_graphs(self, task, pos, d, golden, m):
        out = os.path.join(d, "bundle")
        tokens = np.array([c["tokens"] for c in golden["cases"]], dtype=np.int64)
        rows = np.repeat(read_table(out, m), len(tokens), axis=0)
        _, trace = run_graphs(out, tokens, rows, m["halting"]["max_cycles"])
        for i, case in enumerate(golden["cases"]):
            got = [(logits[i].argmax(-1).tolist(), q[i].tolist()) for logits, q in trace]
            self.assert_steps_equal(case["source"], got, case["steps"])

    def test_bundle_is_what_hrm_export_writes_of_the_checkpoint(self):
        """The committed bundle is the exporter's, the task found from all_config.yaml's
        data_path, as a user's would be."""
        self.for_each(self.check_export)

    def check_export(self, task, pos, d, golden, m):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "bundle")
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = hrm_export.main(["--family", "act-v1", "--checkpoint", os.path.join(d, "checkpoint", "step_1"),
                                        "--check-cases", "1", "--name", m["name"], "--out", out])
            self.assertEqual(code, 0, err.getvalue())
            with open(os.path.join(out, "hrm.yaml")) as f:
                fresh = yaml.safe_load(f)
            with open(os.path.join(out, "golden.json")) as f:
                case = json.load(f)["cases"][0]
        for key in ("source", "grid", "vocab", "encoding", "graphs", "puzzle_embeddings", "check"):
            self.assertEqual(fresh[key], m[key], key)
        # The exporter's own check set (our module) agrees with their forward too.
        got = [(c["argmax"], c["q"]) for c in case["cycles"]]
        self.assert_steps_equal(case["source"], got, golden["cases"][0]["steps"])


if __name__ == "__main__":
    unittest.main()
