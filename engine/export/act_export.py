"""The act-v1 bundle: init.onnx, step.onnx, the puzzle table (puzzle_emb.bin and
identifiers.json), golden.json and hrm.yaml. Called by hrm_export.py --family act-v1.

The table is not in the graphs: a trained model has a row for every augmentation of
every puzzle (the ARC checkpoints about a million rows of 512 floats), beyond the 2 GiB
an ONNX file can hold; hrmd memory-maps the raw file and feeds init.onnx the one row
an input runs with.
"""

import hashlib
import json
import os

import onnx
import torch

import act_checkpoint
import act_v1
import bundle_io
import tasks

TABLE_FILE = "puzzle_emb.bin"
IDENTIFIERS_FILE = act_checkpoint.IDENTIFIERS_FILE
BLANK = act_checkpoint.BLANK

# Identifiers for random models: real ARC-AGI-1 task names (some with the check set's
# inputs) and augmented variants named as sapient's dataset/build_arc_dataset.py names
# them (<task>_t<dihedral 0-7>_<colour map, 0 first>). fe9372f3 and 00d62c1b have no
# row on purpose: their check-set cases run with the blank row.
RANDOM_IDENTIFIERS = (BLANK, "007bbfb7", "007bbfb7_t1_0381726549", "007bbfb7_t6_0729351864",
                      "3631a71a", "3631a71a_t2_0516273849", "57aa92db", "0d3d703e")

INIT_OUTPUTS = ["x", "z_h", "z_l"]
STEP_OUTPUTS = ["z_h_next", "z_l_next", "logits", "q"]


def set_static_shapes(path, shapes):
    """The tracer leaves some output axes symbolic (after Expand, Slice); hrmd allows
    only the batch axis to be dynamic, so every other axis is written out."""
    model = onnx.load(path)
    for out in model.graph.output:
        dims = out.type.tensor_type.shape.dim
        for d, size in zip(list(dims)[1:], shapes[out.name]):
            d.Clear()
            d.dim_value = size
    onnx.checker.check_model(model)
    onnx.save(model, path)


def export_graphs(model, out_dir):
    """Write init.onnx and step.onnx; return each graph's (inputs, outputs)."""
    cfg = model.config
    seq, hidden, vocab = cfg["seq_len"], cfg["hidden_size"], cfg["vocab_size"]
    positions = seq + model.inner.puzzle_emb_len
    batch = 2  # any size: the batch axis is dynamic
    tokens = torch.zeros(batch, seq, dtype=torch.long)
    row = torch.zeros(batch, cfg["puzzle_emb_ndim"])
    state = torch.zeros(batch, positions, hidden)
    model.eval()
    init_path, step_path = os.path.join(out_dir, "init.onnx"), os.path.join(out_dir, "step.onnx")
    batch_axis = lambda names: {n: {0: "batch"} for n in names}  # noqa: E731
    with torch.no_grad():
        torch.onnx.export(act_v1.InitGraph(model).eval(), (tokens, row), init_path, opset_version=bundle_io.OPSET,
                          input_names=["tokens", "puzzle_emb"], output_names=INIT_OUTPUTS,
                          dynamic_axes=batch_axis(["tokens", "puzzle_emb"] + INIT_OUTPUTS),
                          do_constant_folding=True)
        torch.onnx.export(act_v1.StepGraph(model).eval(), (state, state.clone(), state.clone()), step_path,
                          opset_version=bundle_io.OPSET, input_names=["x", "z_h", "z_l"],
                          output_names=STEP_OUTPUTS, dynamic_axes=batch_axis(["x", "z_h", "z_l"] + STEP_OUTPUTS),
                          do_constant_folding=True)
    row_shape = [positions, hidden]
    set_static_shapes(init_path, {n: row_shape for n in INIT_OUTPUTS})
    set_static_shapes(step_path, {"z_h_next": row_shape, "z_l_next": row_shape, "logits": [seq, vocab], "q": [2]})
    return {"init": bundle_io.graph_io(init_path), "step": bundle_io.graph_io(step_path)}


def write_table(table, path):
    """Raw little-endian float32, row-major, no header; in slices, as a real table is
    gigabytes."""
    table = table.detach().to(torch.float32)
    with open(path, "wb") as f:
        for start in range(0, table.shape[0], 65536):
            f.write(table[start:start + 65536].numpy().astype("<f4", copy=False).tobytes())


def check_identifiers(names, rows, where):
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise act_v1.CheckpointError(f"{where}: not a JSON list of names")
    if len(names) != rows:
        raise act_v1.CheckpointError(f"{where} names {len(names)} puzzles; the checkpoint's table "
                                     f"inner.puzzle_emb.weights has {rows} rows")
    if not names or names[0] != BLANK:
        raise act_v1.CheckpointError(f"{where} starts with {names[:1]}; row 0 must be {BLANK!r}")


def write_puzzle_table(model, identifiers_bytes, out_dir):
    """puzzle_emb.bin and identifiers.json (the checkpoint's own bytes) and their
    manifest section."""
    table = model.inner.puzzle_emb.weights
    write_table(table, os.path.join(out_dir, TABLE_FILE))
    with open(os.path.join(out_dir, IDENTIFIERS_FILE), "wb") as f:
        f.write(identifiers_bytes)
    return {
        "file": TABLE_FILE,
        "dtype": "float32",
        "shape": [int(d) for d in table.shape],
        "sha256": bundle_io.sha256_file(os.path.join(out_dir, TABLE_FILE)),
        "identifiers": IDENTIFIERS_FILE,
        "identifiers_sha256": hashlib.sha256(identifiers_bytes).hexdigest(),
        "input": "puzzle_emb",
    }


def manifest(model, name, source, graphs, table, out_dir, task):
    cfg = model.config
    side = int(round(cfg["seq_len"] ** 0.5))
    if side * side != cfg["seq_len"]:
        raise ValueError(f"seq_len {cfg['seq_len']} is not a square grid")
    if (cfg["seq_len"], cfg["vocab_size"]) != (task.seq_len, task.vocab):
        raise ValueError(f"the model's seq_len {cfg['seq_len']} and vocab_size {cfg['vocab_size']} are not "
                         f"task {task.name}'s ({task.seq_len}, {task.vocab})")
    graph = lambda role, file: {  # noqa: E731
        "file": file, "sha256": bundle_io.sha256_file(os.path.join(out_dir, file)),
        "inputs": graphs[role][0], "outputs": graphs[role][1]}
    return {
        "format": bundle_io.BUNDLE_FORMAT,
        "name": name,
        "family": "act-v1",
        "source": source,
        "grid": side,
        "vocab": cfg["vocab_size"],
        "encoding": task.encoding,
        "hidden": cfg["hidden_size"],
        # hrmd's cost per step (actFLOPsPerStep) needs the cycles and the SwiGLU width.
        "layers": {"h": cfg["H_layers"], "l": cfg["L_layers"], "h_cycles": cfg["H_cycles"],
                   "l_cycles": cfg["L_cycles"],
                   "intermediate": act_v1.intermediate_size(cfg["hidden_size"], cfg["expansion"])},
        "graphs": {"init": graph("init", "init.onnx"), "step": graph("step", "step.onnx")},
        "carry": {"z_h_next": "z_h", "z_l_next": "z_l"},
        # The input embedding (puzzle row included) is injected into L at every step.
        "constants": ["x"],
        "halting": {"output": "q", "rule": "q_compare", "threshold": 0,
                    "min_cycles": act_v1.MIN_CYCLES, "max_cycles": cfg["halt_max_steps"]},
        "puzzle_embeddings": table,
    }


def sigmoid(v):
    return float(torch.sigmoid(torch.tensor(v, dtype=torch.float64)))


def golden_case(model, task, grid, puzzle, row):
    """One case: every step's q, argmax and sampled logits, and hrmd's q_compare halting."""
    steps = model.config["halt_max_steps"]
    tokens = tasks.encode(task, grid)
    with torch.no_grad():
        trace = model.trace(torch.tensor([tokens], dtype=torch.long), torch.tensor([row]), steps)
    cycles, halt_cycle = [], 0
    for step, (logits, q) in enumerate(trace, start=1):
        q_halt, q_continue = float(q[0, 0]), float(q[0, 1])
        cycles.append(bundle_io.cycle_record(logits[0].numpy(), sigmoid(q_halt), [q_halt, q_continue],
                                             bundle_io.logit_cells(task.side)))
        # Compared as float32, as hrmd compares the step's output.
        if not halt_cycle and step >= act_v1.MIN_CYCLES and q[0, 0] > q[0, 1]:
            halt_cycle = step
    return {"puzzle": puzzle, "grid": grid, "tokens": tokens, "cycles": cycles,
            "halt_cycle": halt_cycle or steps, "halted_by": "model" if halt_cycle else "max_cycles",
            "decoded": tasks.decode(task, cycles[(halt_cycle or steps) - 1]["argmax"])}


def check_inputs(task, arc_dir, count=None):
    """The check set's inputs: [(source, grid, puzzle identifier)]. ARC's each run with
    their own task's row when the table has one, else the blank row; a Sudoku's or a
    maze's with the blank row, their dataset's only one."""
    if task.encoding != "arc-eos":
        return [(source, grid, BLANK) for source, grid in tasks.check_inputs(task, count)]
    return [(f"ARC-AGI-1 {split}/{task_id}.json test[{index}].input",
             bundle_io.load_arc_input(arc_dir, split, task_id, index), task_id)
            for split, task_id, index in bundle_io.GOLDEN_INPUTS[:count]]


def golden(model, identifiers, arc_dir, task, count=None):
    """The PyTorch fp32 reference for the task's real inputs (batch 1 each)."""
    if model.training:
        raise RuntimeError("golden: the model is in training mode")
    rows = {n: i for i, n in enumerate(identifiers)}
    cases = []
    for source, grid, puzzle in bundle_io.each_case(check_inputs(task, arc_dir, count), lambda i: i[0]):
        puzzle = puzzle if puzzle in rows else BLANK
        cases.append({"source": source, **golden_case(model, task, grid, puzzle, rows[puzzle])})
    return {
        "format": bundle_io.CHECK_SET_FORMAT,
        "reference": f"PyTorch {torch.__version__}, batch 1, eval mode, fp32 (engine/export/act_v1.py)",
        "halting": {"rule": "q_compare", "threshold": 0, "min_cycles": act_v1.MIN_CYCLES,
                    "max_cycles": model.config["halt_max_steps"]},
        "logit_cells": list(bundle_io.logit_cells(task.side)),
        "cases": cases,
    }


def write_bundle(model, identifiers_bytes, out_dir, name, source, arc_dir=None, check_cases=None, task=None):
    """Write the graphs, the table, the check set and hrm.yaml, which names and hashes them."""
    task = task or tasks.TASKS["arc"]
    identifiers = json.loads(identifiers_bytes)
    check_identifiers(identifiers, model.inner.puzzle_emb.weights.shape[0], IDENTIFIERS_FILE)
    os.makedirs(out_dir, exist_ok=True)
    graphs = bundle_io.timed("exporting init.onnx and step.onnx", lambda: export_graphs(model, out_dir))
    table = bundle_io.timed("writing the puzzle table", lambda: write_puzzle_table(model, identifiers_bytes, out_dir))
    m = manifest(model, name, source, graphs, table, out_dir, task)
    g = golden(model, identifiers, arc_dir or bundle_io.default_arc_dir(), task, check_cases)
    bundle_io.write_check_set(out_dir, m, g)
    bundle_io.write_manifest(out_dir, m)
    return m


def random_identifiers_bytes(task=None):
    """ARC's random identifiers; a Sudoku's or maze's dataset has only the blank row."""
    names = RANDOM_IDENTIFIERS if task is None or task.encoding == "arc-eos" else (BLANK,)
    return (json.dumps(list(names)) + "\n").encode()


def export(args):
    """hrm_export.py --family act-v1: returns (manifest, None) or (None, error message)."""
    task = tasks.TASKS[args.task or "arc"]
    try:
        if args.checkpoint:
            model, step, task, ids = from_checkpoint(args)
            source = {"checkpoint": os.path.basename(args.checkpoint), "step": step,
                      "sha256": bundle_io.sha256_file(args.checkpoint)}
        else:
            ids = random_identifiers_bytes(task)
            overrides = {**act_v1.parse_overrides(args.arch), "seq_len": task.seq_len, "vocab_size": task.vocab}
            model = act_v1.random_model(args.random, args.seed, len(json.loads(ids)), overrides)
            source = {"checkpoint": random_source(args, task), "step": 0, "sha256": ""}
    except act_v1.CheckpointError as e:
        return None, str(e)
    name = args.name or os.path.basename(os.path.normpath(args.out))
    return write_bundle(model, ids, args.out, name, source, args.arc, args.check_cases, task), None


def from_checkpoint(args):
    """(model, step, task, identifiers' bytes) of --checkpoint: the task from --task or the
    dataset.json found, its seq_len and vocab_size over all_config.yaml's arch."""
    config_path = args.config or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), "all_config.yaml")
    trained = act_checkpoint.trained_on(args.checkpoint, config_path, args.task, args.dataset)
    overrides = {"seq_len": trained.task.seq_len, "vocab_size": trained.task.vocab,
                 **act_v1.parse_overrides(args.arch)}
    model, step = act_v1.load_checkpoint(args.checkpoint, args.config, overrides, act_checkpoint.shape_checks(trained))
    rows = model.inner.puzzle_emb.weights.shape[0]
    ids, ids_path = act_checkpoint.identifiers(args.checkpoint, trained, rows, args.identifiers)
    check_identifiers(json.loads(ids), rows, ids_path)
    return model, step, trained.task, ids


def random_source(args, task):
    """random-init:act-v1:SIZE[:TASK][:KEY=VALUE...]:seed=N, ARC's without its name."""
    parts = ["random-init", "act-v1", args.random] + ([task.name] if task.name != "arc" else [])
    return ":".join(parts + list(args.arch or ()) + [f"seed={args.seed}"])


def random_model_of(source):
    """The random model a random_source names: act_v1.random_model(size, seed, rows,
    overrides) with the task's seq_len and vocab_size."""
    parts = source.split(":")
    if parts[:2] != ["random-init", "act-v1"] or not parts[-1].startswith("seed="):
        raise ValueError(f"{source!r} is not random-init:act-v1:SIZE[:TASK][:KEY=VALUE...]:seed=N")
    size, rest, seed = parts[2], parts[3:-1], int(parts[-1][len("seed="):])
    task = tasks.TASKS[rest.pop(0) if rest and "=" not in rest[0] else "arc"]
    overrides = {**act_v1.parse_overrides(rest), "seq_len": task.seq_len, "vocab_size": task.vocab}
    return act_v1.random_model(size, seed, len(json.loads(random_identifiers_bytes(task))), overrides), task
