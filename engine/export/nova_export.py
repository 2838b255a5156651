"""The nova bundle: init.onnx, step.onnx, golden.json and hrm.yaml from a dp-web4
HierarchicalReasoningModule (nova.py). Called by hrm_export.py and train_demo.py.
"""

import os

import torch

import arc
import bundle_io
import nova


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
            opset_version=bundle_io.OPSET,
            input_names=["tokens"],
            output_names=["h", "l"],
            dynamic_axes={"tokens": {0: "batch"}, "h": {0: "batch"}, "l": {0: "batch"}},
            do_constant_folding=True,
        )
        torch.onnx.export(
            step_graph,
            (state, state.clone()),
            os.path.join(out_dir, "step.onnx"),
            opset_version=bundle_io.OPSET,
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
        "init": bundle_io.graph_io(os.path.join(out_dir, "init.onnx")),
        "step": bundle_io.graph_io(os.path.join(out_dir, "step.onnx")),
    }


def manifest(model, name, source, graphs, out_dir):
    cfg = model.config
    side = int(round(cfg["seq_len"] ** 0.5))
    if side * side != cfg["seq_len"]:
        raise ValueError(f"seq_len {cfg['seq_len']} is not a square grid")
    init_in, init_out = graphs["init"]
    step_in, step_out = graphs["step"]
    return {
        "format": bundle_io.BUNDLE_FORMAT,
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
                "sha256": bundle_io.sha256_file(os.path.join(out_dir, "init.onnx")),
                "inputs": init_in,
                "outputs": init_out,
            },
            "step": {
                "file": "step.onnx",
                "sha256": bundle_io.sha256_file(os.path.join(out_dir, "step.onnx")),
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


def golden(model, arc_dir, side, count=None):
    """The PyTorch reference, per cycle, for real ARC inputs (batch 1 each)."""
    cfg = model.config
    if model.training:
        raise RuntimeError("golden: the model is in training mode (dropout on)")
    cases = []
    for split, task_id, index in bundle_io.each_case(bundle_io.GOLDEN_INPUTS[:count], lambda i: f"{i[0]}/{i[1]}.json"):
        grid = bundle_io.load_arc_input(arc_dir, split, task_id, index)
        tokens = arc.encode_arc_eos(grid, side)
        x = torch.tensor([tokens], dtype=torch.long)
        with torch.no_grad():
            trace = model.trace(x, cfg["max_cycles"])
            _, halt_probs = model(x)
        cycles = [bundle_io.cycle_record(logits[0].numpy(), halt[0, 0]) for logits, halt in trace]
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
        "format": bundle_io.CHECK_SET_FORMAT,
        "reference": f"PyTorch {torch.__version__}, batch 1, eval mode",
        "halting": {"threshold": nova.HALT_THRESHOLD, "min_cycles": nova.MIN_CYCLES,
                    "max_cycles": cfg["max_cycles"]},
        "logit_cells": list(bundle_io.GOLDEN_LOGIT_CELLS),
        "cases": cases,
    }


def write_bundle(model, out_dir, name, source, arc_dir=None, check_cases=None):
    """Write the graphs, the check set (golden.json) and hrm.yaml, which names
    and hashes them all."""
    os.makedirs(out_dir, exist_ok=True)
    graphs = bundle_io.timed("exporting init.onnx and step.onnx", lambda: export_graphs(model, out_dir))
    m = manifest(model, name, source, graphs, out_dir)
    g = golden(model, arc_dir or bundle_io.default_arc_dir(), m["grid"], check_cases)
    bundle_io.write_check_set(out_dir, m, g)
    bundle_io.write_manifest(out_dir, m)
    return m


def force_constant_output(model, colour):
    """Makes the output head ignore its input: zero weights and a bias that
    puts colour's arc-eos token (colour + 2) far ahead of every other."""
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.fill_(-10.0)
        model.output.bias[colour + 2] = 10.0
