"""act-v1 on Sudoku and mazes: the committed fixtures, checkpoints of each task (--task,
dataset.json) and learned position encodings. /usr/bin/python3 -m unittest test_act_tasks
(in engine/export)"""

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

import act_export  # noqa: E402
import act_v1  # noqa: E402
import hrm_export  # noqa: E402
import tasks  # noqa: E402
from test_act_v1 import all_config, assert_trace_close, read_table, run_graphs  # noqa: E402
from test_export import HERE, sha256  # noqa: E402


def task_model(task, seed, size="tiny", **config):
    """The random model hrm_export.py --random SIZE --task writes."""
    return act_v1.random_model(size, seed, 1, {"seq_len": task.seq_len, "vocab_size": task.vocab, **config})


class ActTaskFixtureTest(unittest.TestCase):
    """engine/testdata/act-v1-sudoku-tiny and act-v1-maze-tiny: the task's shapes and
    encoding in hrm.yaml, the blank row only, a check set of the task's own inputs, and
    graphs and golden our module reproduces (the seeds are internal/build/fixtures.sh's)."""

    FIXTURES = (("sudoku", 6), ("maze", 41))

    def for_each(self, check):
        """check(task, seed, bundle folder, hrm.yaml, golden.json) per fixture."""
        for name, seed in self.FIXTURES:
            with self.subTest(name):
                out = os.path.join(HERE, "..", "testdata", f"act-v1-{name}-tiny")
                with open(os.path.join(out, "hrm.yaml")) as f:
                    m = yaml.safe_load(f)
                with open(os.path.join(out, "golden.json")) as f:
                    g = json.load(f)
                check(tasks.TASKS[name], seed, out, m, g)

    def test_manifest_and_check_set_are_the_task_s(self):
        self.for_each(self.check_manifest_and_check_set)

    def check_manifest_and_check_set(self, task, seed, out, m, g):
        self.assertEqual((m["grid"], m["vocab"], m["encoding"]), (task.side, task.vocab, task.name))
        self.assertEqual(m["source"]["checkpoint"], f"random-init:act-v1:tiny:{task.name}:seed={seed}")
        self.assertEqual(m["puzzle_embeddings"]["shape"], [1, 32])
        with open(os.path.join(out, "identifiers.json")) as f:
            self.assertEqual(json.load(f), ["<blank>"])
        self.assertEqual([c["source"] for c in g["cases"]],
                         [f"testdata/{rel} test[{i}].input" for rel, i in task.files])
        self.assertEqual(g["logit_cells"], list(act_export.bundle_io.logit_cells(task.side)))
        for case, (_, grid) in zip(g["cases"], tasks.check_inputs(task)):
            self.assertEqual(case["grid"], grid)
            self.assertEqual(case["tokens"], tasks.encode(task, grid))
            self.assertEqual(case["puzzle"], "<blank>")
            self.assertEqual(case["decoded"], tasks.decode(task, case["cycles"][case["halt_cycle"] - 1]["argmax"]))
        self.assertEqual({c["decoded"] is None for c in g["cases"]}, {True, False},
                         "the fixture should decode to a grid and to none")

    def test_fixture_reproduces(self):
        self.for_each(self.check_fixture_reproduces)

    def check_fixture_reproduces(self, task, seed, out, committed, golden):
        model, named = act_export.random_model_of(committed["source"]["checkpoint"])
        self.assertIs(named, task)
        with tempfile.TemporaryDirectory() as d:
            graphs = act_export.export_graphs(model, d)
            table = act_export.write_puzzle_table(model, act_export.random_identifiers_bytes(task), d)
            m = act_export.manifest(model, committed["name"], committed["source"], graphs, table, d, task)
        self.assertEqual(m["graphs"], committed["graphs"])
        self.assertEqual(m["puzzle_embeddings"], committed["puzzle_embeddings"])
        tokens = torch.tensor([c["tokens"] for c in golden["cases"]])
        with torch.no_grad():
            trace = model.trace(tokens, torch.zeros(len(tokens), dtype=torch.long))
        for i, case in enumerate(golden["cases"]):
            for step, ((logits, q), want) in enumerate(zip(trace, case["cycles"]), start=1):
                self.assertEqual(logits[i].argmax(-1).tolist(), want["argmax"], f"{case['source']} step {step}")
                np.testing.assert_allclose(q[i].numpy(), want["q"], atol=1e-5)

    def test_graphs_match_the_module(self):
        self.for_each(self.check_graphs_match_the_module)

    def check_graphs_match_the_module(self, task, seed, out, m, g):
        tokens = np.array([c["tokens"] for c in g["cases"]], dtype=np.int64)
        _, got = run_graphs(out, tokens, np.repeat(read_table(out, m), len(tokens), axis=0), 2)
        with torch.no_grad():
            want = task_model(task, seed).trace(torch.from_numpy(tokens), torch.zeros(len(tokens), dtype=torch.long), 2)
        assert_trace_close(self, got, want, 2e-4, 1e-5)


class ActTaskCheckpointTest(unittest.TestCase):
    """Sudoku and maze checkpoints laid out as sapient's pretrain.py and dataset builders lay
    them out: checkpoints/<project>/<run>/step_N with all_config.yaml, whose data_path names
    data/<name>/ with identifiers.json and test/dataset.json."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.root = self.tmp.name

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def save(self, task, state=None, pos_encodings="rope", config_pos=None, dataset=True, dataset_fields=None):
        """A checkpoint of a tiny random model of task; returns (checkpoint, model)."""
        model = task_model(task, 3, pos_encodings=pos_encodings)
        run = self.path("checkpoints", "Proj", "run")
        os.makedirs(run, exist_ok=True)
        state = model.state_dict() if state is None else state
        torch.save({"_orig_mod.model." + k: v for k, v in state.items()}, os.path.join(run, "step_100"))
        arch = {k: v for k, v in model.config.items() if k not in ("seq_len", "vocab_size", "num_puzzle_identifiers")}
        arch["pos_encodings"] = config_pos or pos_encodings
        with open(os.path.join(run, "all_config.yaml"), "w") as f:
            f.write(all_config(arch, f"data/{task.name}-1k"))
        if dataset:
            data = self.path("data", f"{task.name}-1k")
            os.makedirs(os.path.join(data, "test"), exist_ok=True)
            meta = {"pad_id": 0, "ignore_label_id": 0, "blank_identifier_id": 0, "vocab_size": task.vocab,
                    "seq_len": task.seq_len, "num_puzzle_identifiers": 1, "total_groups": 1000,
                    "mean_puzzle_examples": 1.0, "sets": ["all"], **(dataset_fields or {})}
            with open(os.path.join(data, "test", "dataset.json"), "w") as f:
                json.dump(meta, f)
            with open(os.path.join(data, "identifiers.json"), "w") as f:
                json.dump(["<blank>"], f)
        return os.path.join(run, "step_100"), model

    def run_main(self, *argv):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = hrm_export.main(["--family", "act-v1", "--check-cases", "1"] + list(argv))
        return code, err.getvalue()

    def export(self, *argv):
        out = self.path("bundle")
        code, err = self.run_main(*argv, "--out", out)
        self.assertEqual(code, 0, err)
        with open(os.path.join(out, "hrm.yaml")) as f:
            m = yaml.safe_load(f)
        with open(os.path.join(out, "golden.json")) as f:
            g = json.load(f)
        return out, m, g

    def test_task_from_all_config_data_path(self):
        task = tasks.TASKS["sudoku"]
        ckpt, model = self.save(task)
        out, m, g = self.export("--checkpoint", ckpt)
        self.assertEqual((m["grid"], m["vocab"], m["encoding"]), (9, 11, "sudoku"))
        self.assertEqual(m["puzzle_embeddings"]["identifiers_sha256"],
                         sha256(self.path("data", "sudoku-1k", "identifiers.json")))
        self.assertEqual(g["cases"][0]["source"], "testdata/sudoku/seed1-blanks24.json test[0].input")
        self.check_golden(model, out, m, g)

    def test_task_flag_without_a_dataset(self):
        task = tasks.TASKS["maze"]
        ckpt, model = self.save(task, dataset=False)
        code, err = self.run_main("--checkpoint", ckpt, "--out", self.path("never"))
        self.assertEqual(code, 2)
        self.assertIn("inner.embed_tokens.embedding_weight has 6 rows, a vocabulary of 6 (maze), "
                      "not task arc's 12", err)
        self.assertIn("the default", err)
        out, m, g = self.export("--checkpoint", ckpt, "--task", "maze")
        self.assertEqual((m["grid"], m["vocab"], m["encoding"]), (30, 6, "maze"))
        with open(os.path.join(out, "identifiers.json")) as f:
            self.assertEqual(json.load(f), ["<blank>"])
        self.check_golden(model, out, m, g)

    def test_learned_positions_export(self):
        task = tasks.TASKS["sudoku"]
        ckpt, model = self.save(task, pos_encodings="learned")
        self.assertEqual(list(model.inner.embed_pos.embedding_weight.shape), [82, 32])
        out, m, g = self.export("--checkpoint", ckpt)
        self.check_golden(model, out, m, g)

    def check_golden(self, model, out, m, g):
        """Our module reproduces the check set's every step; the graphs, by onnx_numpy, follow it."""
        case = g["cases"][0]
        tokens = torch.tensor([case["tokens"]])
        with torch.no_grad():
            want = model.trace(tokens, torch.tensor([0]))
        for step, ((logits, q), c) in enumerate(zip(want, case["cycles"]), start=1):
            self.assertEqual(logits[0].argmax(-1).tolist(), c["argmax"], f"step {step}")
            np.testing.assert_allclose(q[0].numpy(), c["q"], atol=1e-5)
        _, got = run_graphs(out, tokens.numpy(), read_table(out, m)[[0]], 3)
        assert_trace_close(self, got, want[:3], 2e-4, 1e-5)

    def test_mismatches_are_refused_naming_the_key_and_the_fix(self):
        sudoku, maze = tasks.TASKS["sudoku"], tasks.TASKS["maze"]
        pos = "inner.embed_pos.embedding_weight"

        def short_positions(state):
            state[pos] = state[pos][:50]
            return state

        cases = [
            ("task flag against the checkpoint", dict(task=sudoku, dataset=False), ["--task", "arc"],
             ["inner.embed_tokens.embedding_weight has 11 rows, a vocabulary of 11 (sudoku), not task arc's 12",
              "--task"]),
            ("task flag against dataset.json", dict(task=sudoku), ["--task", "maze"],
             ["--task maze disagrees with", "dataset.json (seq_len 81, vocab_size 11: sudoku)"]),
            ("dataset.json of no task", dict(task=sudoku, dataset_fields={"seq_len": 100}), [],
             ["seq_len 100 and vocab_size 11 are none of the tasks hrmd serves"]),
            ("table against dataset.json", dict(task=maze, dataset_fields={"num_puzzle_identifiers": 3}), [],
             ["inner.puzzle_emb.weights has 1 rows", "says num_puzzle_identifiers 3", "--dataset"]),
            ("learned positions against seq_len", dict(task=sudoku, pos_encodings="learned", state=short_positions),
             [], [f"{pos} has 50 rows, a seq_len of 49 and 1 puzzle position(s), not task sudoku's seq_len 81 + 1",
                  "--dataset"]),
            ("learned checkpoint, rope config", dict(task=sudoku, pos_encodings="learned", config_pos="rope"), [],
             [f"{pos} is in the checkpoint (it was trained with pos_encodings learned)", "arch.pos_encodings"]),
            ("rope checkpoint, learned config", dict(task=sudoku, config_pos="learned"), [],
             [f"has no {pos} (it was trained with rope)"]),
            ("seq_len by --arch", dict(task=sudoku), ["--arch", "seq_len=81"],
             ["seq_len and vocab_size are the task's: give --task"]),
            ("--dataset with none there", dict(task=sudoku), ["--dataset", "/nonexistent"],
             ["--dataset /nonexistent: no dataset.json there"]),
        ]
        for name, save, argv, wants in cases:
            with self.subTest(name):
                if "state" in save:
                    ckpt, model = self.save(**{**save, "state": None})
                    save["state"] = save["state"](model.state_dict())
                ckpt, _ = self.save(**save)
                code, err = self.run_main("--checkpoint", ckpt, *argv, "--out", self.path("never"))
                self.assertEqual(code, 2, err)
                for want in wants:
                    self.assertIn(want, err)
                self.assertFalse(os.path.exists(self.path("never")))


if __name__ == "__main__":
    unittest.main()
