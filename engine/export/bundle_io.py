"""What every hrmd model bundle shares, whatever the family: hrm.yaml and its format, the
sha256 of each file, the ONNX graphs' names, the check set (golden.json: its ARC inputs, the
record of a cycle, its format) and the ARC tasks it is made from. nova_export.py and
act_export.py write their bundles with it; hrm_export.py is the command over them.

The format's reader is hrmd's engine/bundle (Go): a change here is a change there.

A full model's export takes minutes on a small machine: progress() and each_case() say on
stderr how far it is, so that stdout keeps the one `wrote ...` line scripts read.
"""

import hashlib
import json
import os
import sys
import time

import numpy as np
import onnx
import yaml

import arc
import onnx_numpy

OPSET = 17
BUNDLE_FORMAT = "hrmd-bundle/1"

# Real ARC-AGI-1 test inputs for the golden file (the check set), chosen to cover the encoding's
# edge cases: small, square 30x30 (no EOS at all), width 30, height 30, mid-size.
GOLDEN_INPUTS = (
    ("training", "007bbfb7", 0),  # 3x3
    ("training", "3631a71a", 0),  # 30x30
    ("training", "57aa92db", 0),  # 19x30
    ("evaluation", "fe9372f3", 0),  # 30x17
    ("training", "0d3d703e", 0),  # 3x3, other colours
    ("training", "00d62c1b", 0),  # 20x20
)
# Cells whose every logit the golden file records: corners and an interior cell (ARC's 30x30;
# logit_cells for any side).
GOLDEN_LOGIT_CELLS = (0, 1, 29, 31, 465, 870, 899)
CHECK_FILE = "golden.json"
# Format 2 adds each cell's margin per cycle, which hrmd's check needs to tell a decided cell from
# a near tie (engine/bundle/checkset.go); format 1 had none.
CHECK_SET_FORMAT = "hrmd-golden/2"
# Margins are stored cut down to 3 decimals (logit units): never more decided than they were.
MARGIN_SCALE = 1000


def logit_cells(side):
    """GOLDEN_LOGIT_CELLS for a side x side grid: the corners, two neighbours of the first
    and the centre."""
    return (0, 1, side - 1, side + 1, (side // 2) * (side + 1), (side - 1) * side, side * side - 1)


def cycle_record(logits, halt, q=None, cells=GOLDEN_LOGIT_CELLS):
    """One cycle of a check case from its fp32 logits [cells, vocab]: the halt probability (and
    act-v1's q logits), each cell's argmax (the first of equals, as hrmd takes it), its margin
    (the largest logit less the second largest), and every logit of a few cells."""
    logits = np.asarray(logits, dtype=np.float32)
    top2 = np.partition(logits, -2, axis=-1)[:, -2:]
    margins = np.floor((top2[:, 1].astype(np.float64) - top2[:, 0]) * MARGIN_SCALE) / MARGIN_SCALE
    record = {"halt": float(halt)}
    if q is not None:
        record["q"] = [float(v) for v in q]
    record["argmax"] = logits.argmax(axis=-1).tolist()
    record["margins"] = margins.tolist()
    record["logits"] = {str(c): [float(v) for v in logits[c]] for c in cells}
    return record


def progress(message):
    """One line on stderr, at once, while a long step runs."""
    print(f"hrm_export: {message}", file=sys.stderr, flush=True)


def timed(what, run):
    """run(), with a line on stderr before it and one with its time after."""
    progress(f"{what} ...")
    start = time.monotonic()
    result = run()
    progress(f"{what}: {time.monotonic() - start:.1f} s")
    return result


def each_case(inputs, label):
    """Yields the check set's inputs, a line on stderr as each case is done (label(input) names
    it) with its time, and one for all of them."""
    inputs = list(inputs)
    progress(f"check set: {len(inputs)} cases through the fp32 reference")
    start = time.monotonic()
    for i, item in enumerate(inputs, start=1):
        case_start = time.monotonic()
        yield item
        progress(f"check set: case {i}/{len(inputs)} ({label(item)}): {time.monotonic() - case_start:.1f} s")
    progress(f"check set: {len(inputs)} cases: {time.monotonic() - start:.1f} s")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def graph_io(path):
    model = onnx.load(path)
    onnx.checker.check_model(model)
    return [i.name for i in model.graph.input], [o.name for o in model.graph.output]


def load_arc_input(arc_dir, split, task_id, index):
    path = os.path.join(arc_dir, split, task_id + ".json")
    with open(path) as f:
        return json.load(f)["test"][index]["input"]


def write_check_set(out_dir, m, g):
    with open(os.path.join(out_dir, CHECK_FILE), "w") as f:
        json.dump(g, f, separators=(",", ":"))
        f.write("\n")
    m["check"] = {"file": CHECK_FILE, "sha256": sha256_file(os.path.join(out_dir, CHECK_FILE))}


def write_manifest(out_dir, m):
    with open(os.path.join(out_dir, "hrm.yaml"), "w") as f:
        f.write(f"# hrmd model bundle, written by engine/export/hrm_export.py ({m['name']})\n")
        yaml.safe_dump(m, f, sort_keys=False, default_flow_style=None, width=100)


def check_set_from_graphs(out_dir, m, arc_dir, count=None):
    """The check set of a bundle whose weights are only in its graphs (one
    exported before bundles carried a check set): the graphs run in fp32 by
    onnx_numpy, this repository's own evaluator, not by onnxruntime, and
    halting by the manifest's threshold rule as hrmd applies it."""
    h = m["halting"]
    if h["rule"] != "threshold":
        raise ValueError(f"--add-check-set knows the threshold rule only, not {h['rule']!r}")
    init = onnx_numpy.Graph(os.path.join(out_dir, m["graphs"]["init"]["file"]))
    step = onnx_numpy.Graph(os.path.join(out_dir, m["graphs"]["step"]["file"]))
    side = m["grid"]
    cases = []
    for split, task_id, index in each_case(GOLDEN_INPUTS[:count], lambda i: f"{i[0]}/{i[1]}.json"):
        grid = load_arc_input(arc_dir, split, task_id, index)
        tokens = arc.encode_arc_eos(grid, side)
        state = dict(zip(m["graphs"]["init"]["outputs"], init.run({"tokens": np.array([tokens], dtype=np.int64)})))
        cycles, halt_cycle = [], 0
        for cycle in range(1, h["max_cycles"] + 1):
            out = dict(zip(m["graphs"]["step"]["outputs"], step.run({k: state[k] for k in m["graphs"]["step"]["inputs"]})))
            for src, dst in m["carry"].items():
                state[dst] = out[src]
            logits, halt = out["logits"][0], float(out[h["output"]][0, 0])
            cycles.append(cycle_record(logits, halt))
            if not halt_cycle and cycle >= h["min_cycles"] and halt > h["threshold"]:
                halt_cycle = cycle
        halted = halt_cycle > 0
        halt_cycle = halt_cycle or h["max_cycles"]
        cases.append({"source": f"ARC-AGI-1 {split}/{task_id}.json test[{index}].input", "grid": grid,
                      "tokens": tokens, "cycles": cycles, "halt_cycle": halt_cycle,
                      "halted_by": "model" if halted else "max_cycles",
                      "decoded": arc.decode_arc_eos(cycles[halt_cycle - 1]["argmax"], side)})
    return {"format": CHECK_SET_FORMAT, "reference": "onnx_numpy fp32 on the bundle's own graphs, batch 1",
            "halting": {"threshold": h["threshold"], "min_cycles": h["min_cycles"], "max_cycles": h["max_cycles"]},
            "logit_cells": list(GOLDEN_LOGIT_CELLS), "cases": cases}


def add_check_set(out_dir, arc_dir, count=None):
    """Give a bundle its check set from its own graphs, or replace one of format 1 (no margins)."""
    with open(os.path.join(out_dir, "hrm.yaml")) as f:
        m = yaml.safe_load(f)
    if m.get("check"):
        with open(os.path.join(out_dir, m["check"]["file"])) as f:
            old = json.load(f).get("format")
        if old == CHECK_SET_FORMAT:
            raise ValueError(f"{out_dir}/hrm.yaml already names a check set of format {old} ({m['check']['file']})")
    write_check_set(out_dir, m, check_set_from_graphs(out_dir, m, arc_dir, count))
    write_manifest(out_dir, m)
    return m


def default_arc_dir():
    """The ARC-AGI-1 tasks committed for the golden inputs and the tests
    (testdata/arc/ARC-AGI-1 at the repository's root)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "testdata", "arc", "ARC-AGI-1"))
