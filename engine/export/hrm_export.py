#!/usr/bin/python3
"""Export an HRM (family nova or act-v1) to an hrmd model bundle: init.onnx, step.onnx,
golden.json (the check set) and hrm.yaml; act-v1 bundles also carry their puzzle table
(puzzle_emb.bin, identifiers.json).

    /usr/bin/python3 engine/export/hrm_export.py --checkpoint hrm_arc_best.pt --out models/nova
    /usr/bin/python3 engine/export/hrm_export.py --random tiny --seed 1 --out DIR
    /usr/bin/python3 engine/export/hrm_export.py --family act-v1 --checkpoint ckpt/step_N --out DIR
    /usr/bin/python3 engine/export/hrm_export.py --family act-v1 --random tiny --seed 1 --out DIR
    /usr/bin/python3 engine/export/hrm_export.py --add-check-set DIR   # a bundle exported without one

golden.json holds real ARC inputs with the PyTorch fp32 reference, cycle by cycle;
hrmd holds every TensorRT engine it builds to it (tensorrt.fp16_check).

Run with Debian's python3-torch 1.13 and python3-onnx. See README.md, "The exporter".
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import onnx
import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import arc  # noqa: E402
import nova  # noqa: E402

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
# Cells whose 12 logits the golden file records: corners and an interior cell.
GOLDEN_LOGIT_CELLS = (0, 1, 29, 31, 465, 870, 899)
CHECK_FILE = "golden.json"
# Format 2 adds each cell's margin per cycle, which hrmd's check needs to tell a decided cell from
# a near tie (engine/bundle/checkset.go); format 1 had none.
CHECK_SET_FORMAT = "hrmd-golden/2"
# Margins are stored cut down to 3 decimals (logit units): never more decided than they were.
MARGIN_SCALE = 1000


def cycle_record(logits, halt, q=None):
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
    record["logits"] = {str(c): [float(v) for v in logits[c]] for c in GOLDEN_LOGIT_CELLS}
    return record


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


def export_graphs(model, out_dir):
    """Write init.onnx and step.onnx; return each graph's (inputs, outputs)."""
    cfg = model.config
    seq, hidden = cfg["seq_len"], cfg["hidden_size"]
    batch = 2  # any size: the batch axis is dynamic
    tokens = torch.zeros(batch, seq, dtype=torch.long)
    state = torch.zeros(batch, seq, hidden)
    # The wrappers go to eval mode too: torch.onnx.export restores each wrapper's
    # own mode afterwards, recursively, and a wrapper left in training mode would
    # switch dropout on in the model for everything that follows.
    init_graph, step_graph = nova.InitGraph(model).eval(), nova.StepGraph(model).eval()
    model.eval()
    # Gradients stay enabled on purpose: under no_grad, eval-mode encoder layers
    # take a fused fast path that the ONNX exporter cannot export.
    with torch.enable_grad():
        torch.onnx.export(
            init_graph,
            (tokens,),
            os.path.join(out_dir, "init.onnx"),
            opset_version=OPSET,
            input_names=["tokens"],
            output_names=["h", "l"],
            dynamic_axes={"tokens": {0: "batch"}, "h": {0: "batch"}, "l": {0: "batch"}},
            do_constant_folding=True,
        )
        torch.onnx.export(
            step_graph,
            (state, state.clone()),
            os.path.join(out_dir, "step.onnx"),
            opset_version=OPSET,
            input_names=["h", "l"],
            output_names=["h_next", "l_next", "logits", "halt"],
            dynamic_axes={
                "h": {0: "batch"},
                "l": {0: "batch"},
                "h_next": {0: "batch"},
                "l_next": {0: "batch"},
                "logits": {0: "batch"},
                "halt": {0: "batch"},
            },
            do_constant_folding=True,
        )
    return {
        "init": graph_io(os.path.join(out_dir, "init.onnx")),
        "step": graph_io(os.path.join(out_dir, "step.onnx")),
    }


def manifest(model, name, source, graphs, out_dir):
    cfg = model.config
    side = int(round(cfg["seq_len"] ** 0.5))
    if side * side != cfg["seq_len"]:
        raise ValueError(f"seq_len {cfg['seq_len']} is not a square grid")
    init_in, init_out = graphs["init"]
    step_in, step_out = graphs["step"]
    return {
        "format": BUNDLE_FORMAT,
        "name": name,
        "family": "nova",
        "source": source,
        "grid": side,
        "vocab": cfg["vocab_size"],
        "encoding": "arc-eos",
        "hidden": cfg["hidden_size"],
        # Not needed to run the model; the engine derives the cost per cycle from them.
        "layers": {"h": cfg["num_h_layers"], "l": cfg["num_l_layers"]},
        "graphs": {
            "init": {
                "file": "init.onnx",
                "sha256": sha256_file(os.path.join(out_dir, "init.onnx")),
                "inputs": init_in,
                "outputs": init_out,
            },
            "step": {
                "file": "step.onnx",
                "sha256": sha256_file(os.path.join(out_dir, "step.onnx")),
                "inputs": step_in,
                "outputs": step_out,
            },
        },
        "carry": {"h_next": "h", "l_next": "l"},
        "constants": [],
        "halting": {
            "output": "halt",
            "rule": "threshold",
            "threshold": nova.HALT_THRESHOLD,
            "min_cycles": nova.MIN_CYCLES,
            "max_cycles": cfg["max_cycles"],
        },
    }


def load_arc_input(arc_dir, split, task_id, index):
    path = os.path.join(arc_dir, split, task_id + ".json")
    with open(path) as f:
        return json.load(f)["test"][index]["input"]


def golden(model, arc_dir, side, count=None):
    """The PyTorch reference, per cycle, for real ARC inputs (batch 1 each)."""
    cfg = model.config
    if model.training:
        raise RuntimeError("golden: the model is in training mode (dropout on)")
    cases = []
    for split, task_id, index in GOLDEN_INPUTS[:count]:
        grid = load_arc_input(arc_dir, split, task_id, index)
        tokens = arc.encode_arc_eos(grid, side)
        x = torch.tensor([tokens], dtype=torch.long)
        with torch.no_grad():
            trace = model.trace(x, cfg["max_cycles"])
            _, halt_probs = model(x)
        cycles = [cycle_record(logits[0].numpy(), halt[0, 0]) for logits, halt in trace]
        halt_cycle = len(halt_probs)
        halted = halt_cycle < cfg["max_cycles"] or float(halt_probs[-1].mean()) > nova.HALT_THRESHOLD
        cases.append(
            {
                "source": f"ARC-AGI-1 {split}/{task_id}.json test[{index}].input",
                "grid": grid,
                "tokens": tokens,
                "cycles": cycles,
                "halt_cycle": halt_cycle,
                "halted_by": "model" if halted and halt_cycle > 1 else "max_cycles",
                "decoded": arc.decode_arc_eos(cycles[halt_cycle - 1]["argmax"], side),
            }
        )
    return {
        "format": CHECK_SET_FORMAT,
        "reference": f"PyTorch {torch.__version__}, batch 1, eval mode",
        "halting": {"threshold": nova.HALT_THRESHOLD, "min_cycles": nova.MIN_CYCLES,
                    "max_cycles": cfg["max_cycles"]},
        "logit_cells": list(GOLDEN_LOGIT_CELLS),
        "cases": cases,
    }


def write_bundle(model, out_dir, name, source, arc_dir=None, check_cases=None):
    """Write the graphs, the check set (golden.json) and hrm.yaml, which names
    and hashes them all."""
    os.makedirs(out_dir, exist_ok=True)
    graphs = export_graphs(model, out_dir)
    m = manifest(model, name, source, graphs, out_dir)
    g = golden(model, arc_dir or default_arc_dir(), m["grid"], check_cases)
    write_check_set(out_dir, m, g)
    write_manifest(out_dir, m)
    return m


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
    import numpy as np
    import onnx_numpy
    h = m["halting"]
    if h["rule"] != "threshold":
        raise ValueError(f"--add-check-set knows the threshold rule only, not {h['rule']!r}")
    init = onnx_numpy.Graph(os.path.join(out_dir, m["graphs"]["init"]["file"]))
    step = onnx_numpy.Graph(os.path.join(out_dir, m["graphs"]["step"]["file"]))
    side = m["grid"]
    cases = []
    for split, task_id, index in GOLDEN_INPUTS[:count]:
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


def force_constant_output(model, colour):
    """Makes the output head ignore its input: zero weights and a bias that
    puts colour's arc-eos token (colour + 2) far ahead of every other."""
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.fill_(-10.0)
        model.output.bias[colour + 2] = 10.0


def default_arc_dir():
    """The ARC-AGI-1 tasks committed for the golden inputs and the tests
    (testdata/arc/ARC-AGI-1 at the repository's root)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "testdata", "arc", "ARC-AGI-1"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    p.add_argument("--family", choices=("nova", "act-v1"), default="nova",
                   help="nova (dp-web4 HierarchicalReasoningModule, the default) or act-v1 "
                        "(sapientinc/HRM HierarchicalReasoningModel_ACTV1)")
    src.add_argument("--checkpoint", help="nova: a dp-web4 checkpoint (.pt with model_state_dict); "
                                          "act-v1: a sapient step_N file, all_config.yaml beside it")
    src.add_argument("--random", choices=sorted(nova.SIZES), help="a seeded random-init model of this size")
    src.add_argument("--add-check-set", metavar="DIR",
                     help="give a bundle exported without one its check set, from its own graphs "
                          "(or replace a check set of format hrmd-golden/1, which has no margins)")
    p.add_argument("--seed", type=int, default=1, help="seed for --random (default 1)")
    p.add_argument("--identifiers", help="act-v1: the dataset's identifiers.json (default: beside the checkpoint)")
    p.add_argument("--config", help="act-v1: all_config.yaml (default: beside the checkpoint)")
    p.add_argument("--arch", action="append", metavar="KEY=VALUE",
                   help="act-v1: override one arch setting of all_config.yaml (seq_len, hidden_size, ...)")
    p.add_argument("--out", help="bundle folder to write")
    p.add_argument("--name", help="bundle name (default: the folder's name)")
    p.add_argument("--check-cases", type=int,
                   help=f"how many of the {len(GOLDEN_INPUTS)} ARC inputs the check set holds (default all)")
    p.add_argument("--arc", default=default_arc_dir(), help="ARC-AGI-1 folder for the check set's inputs")
    p.add_argument("--constant-output", type=int, metavar="COLOUR", choices=range(10),
                   help="for tests: force every prediction to COLOUR, whatever the input "
                        "(an input-invariant model, the 'Agent Zero' failure hrmd must catch)")
    args = p.parse_args(argv)
    if not os.path.isdir(args.arc):
        print(f"error: the check set needs the ARC-AGI-1 tasks; {args.arc} is not a folder (set --arc)",
              file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.add_check_set:
        try:
            m = add_check_set(args.add_check_set, args.arc, args.check_cases)
        except (OSError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"wrote {args.add_check_set}/{CHECK_FILE}: {len(GOLDEN_INPUTS[:args.check_cases])} inputs")
        return 0
    if not args.out:
        p.error("--out is required with --checkpoint or --random")
    if args.family == "act-v1":
        return main_act_v1(p, args)
    if args.checkpoint:
        try:
            model, step = nova.load_checkpoint(args.checkpoint)
        except nova.CheckpointError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        source = {"checkpoint": os.path.basename(args.checkpoint), "step": step,
                  "sha256": sha256_file(args.checkpoint)}
    else:
        model = nova.random_model(args.random, args.seed)
        source = {"checkpoint": f"random-init:{args.random}:seed={args.seed}", "step": 0, "sha256": ""}
    if args.constant_output is not None:
        force_constant_output(model, args.constant_output)
        source["checkpoint"] += f":constant-output={args.constant_output}"
    name = args.name or os.path.basename(os.path.normpath(args.out))
    m = write_bundle(model, args.out, name, source, args.arc, args.check_cases)
    print(f"wrote {args.out}: {m['name']}, hidden {m['hidden']}, "
          f"init {m['graphs']['init']['sha256'][:12]}, step {m['graphs']['step']['sha256'][:12]}")
    return 0


def main_act_v1(p, args):
    import act_export
    if args.constant_output is not None:
        p.error("--constant-output is for nova bundles only")
    m, err = act_export.export(args)
    if err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    t = m["puzzle_embeddings"]
    print(f"wrote {args.out}: {m['name']}, act-v1, hidden {m['hidden']}, table {t['shape'][0]}x{t['shape'][1]}, "
          f"init {m['graphs']['init']['sha256'][:12]}, step {m['graphs']['step']['sha256'][:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
