#!/usr/bin/python3
"""A parity fixture from sapientinc/HRM's own HierarchicalReasoningModel_ACTV1: a tiny
model of their class for a task, saved as their pretrain.py saves a checkpoint, with the
dataset files their builder writes, their forward's every step as the golden, and the
bundle hrm_export.py makes of the checkpoint. For development only: it imports their
source, which the tests and CI never need (they read what this writes).

    git -C <a clone of github.com/sapientinc/HRM> archive HEAD | tar -x -C /tmp/sapient-hrm
    apt-get install python3-pydantic
    /usr/bin/python3 engine/export/sapient_parity.py --sapient /tmp/sapient-hrm --task sudoku \
        --pos-encodings rope --seed 1 --out engine/testdata/sapient-sudoku-tiny

It writes into --out:
    checkpoint/step_1, checkpoint/all_config.yaml   as pretrain.py saves them (data_path: data)
    data/identifiers.json, data/test/dataset.json   as dataset/build_<task>_dataset.py writes them
    sapient_golden.json   their forward, eval mode, halt_max_steps steps from initial_carry (their
                          evaluation), batch 1, fp32: every step's argmax and (q_halt, q_continue)
    bundle/               hrm_export.py --family act-v1 --checkpoint checkpoint/step_1
                          (the task found through all_config.yaml's data_path)

Their model is built with the task's seq_len, vocab and one puzzle identifier, our tiny
sizes (act_v1.SIZES["tiny"]) and forward_dtype float32, after torch.manual_seed(seed);
then, as act_v1.random_model does, its q head's weight and its puzzle table are drawn
(theirs start at zero: q would be (-5, -5) for every input and the row would not matter).
"""

import argparse
import importlib
import json
import math
import os
import sys
import types
import typing

import torch
import torch.optim.optimizer  # noqa: F401 (loaded, for the ParamsT shim)
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import act_v1  # noqa: E402
import hrm_export  # noqa: E402
import tasks  # noqa: E402

GOLDEN_FILE = "sapient_golden.json"
GOLDEN_FORMAT = "hrmd-sapient-golden/1"
STEP = 1


def flash_attn_func(q, k, v, causal=False, **_):
    """FlashAttention's call as their models/layers.py makes it, as plain softmax attention
    over [batch, seq, heads, head_dim] with its default scale 1/sqrt(head_dim); contiguous,
    as FlashAttention returns it."""
    if causal:
        raise ValueError("their HRM attention is not causal")
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    return (w @ v).transpose(1, 2).contiguous()


class Buffer:
    """torch 2.5's nn.Buffer: a marker that Module.__setattr__ (patched) registers."""

    def __init__(self, data, persistent=True):
        self.data, self.persistent = data, persistent


def install_shims():
    """What Debian's torch 1.13 lacks and their modules use; none changes their arithmetic."""
    sys.modules["flash_attn_interface"] = types.SimpleNamespace(flash_attn_func=flash_attn_func)
    torch.nn.Buffer = Buffer
    module_setattr = torch.nn.Module.__setattr__

    def setattr_buffers(self, name, value):
        if isinstance(value, Buffer):
            self.register_buffer(name, value.data, persistent=value.persistent)
        else:
            module_setattr(self, name, value)
    torch.nn.Module.__setattr__ = setattr_buffers
    # A type alias in an annotation of their optimiser (models/sparse_embedding.py).
    sys.modules["torch.optim.optimizer"].ParamsT = typing.Any
    # Bare @torch.no_grad (torch 2.0) on their optimiser's step, never called here.
    no_grad = torch.no_grad

    class NoGrad(no_grad):
        def __new__(cls, func=None):
            return func if callable(func) else super().__new__(cls)

        def __init__(self, func=None):
            super().__init__()
    torch.no_grad = NoGrad


def arch(task, pos_encodings):
    """Their config: our tiny sizes with the task's dataset numbers."""
    cfg = dict(act_v1.SIZES["tiny"], seq_len=task.seq_len, vocab_size=task.vocab, num_puzzle_identifiers=1,
               pos_encodings=pos_encodings)
    return cfg


def their_model(sapient, cfg, seed):
    install_shims()
    sys.path.insert(0, os.path.abspath(sapient))
    module = importlib.import_module("models.hrm.hrm_act_v1")
    torch.manual_seed(seed)
    model = module.HierarchicalReasoningModel_ACTV1(
        dict(cfg, batch_size=1, halt_exploration_prob=0.1, forward_dtype="float32"))
    inner, hidden = model.inner, cfg["hidden_size"]
    with torch.no_grad():
        inner.q_head.weight.copy_(act_v1.trunc_normal((2, hidden), 1.0 / math.sqrt(hidden)))
        inner.puzzle_emb.weights.copy_(act_v1.trunc_normal(tuple(inner.puzzle_emb.weights.shape),
                                                           1.0 / math.sqrt(hidden)))
    return model.eval()


def run_theirs(model, tokens, steps):
    """Their evaluation: initial_carry, then steps of the wrapper's forward (eval mode never
    halts early), batch 1, the blank row."""
    batch = {"inputs": torch.tensor([tokens], dtype=torch.int32),
             # int64: torch 1.13 cannot index with int32 (their dataset's dtype).
             "puzzle_identifiers": torch.zeros(1, dtype=torch.int64)}
    carry = model.initial_carry(batch)
    out = []
    with torch.no_grad():
        for _ in range(steps):
            carry, o = model(carry=carry, batch=batch)
            out.append({"argmax": o["logits"][0].argmax(-1).tolist(),
                        "q": [float(o["q_halt_logits"][0]), float(o["q_continue_logits"][0])]})
    return out


def write_checkpoint(model, cfg, out):
    """step_N as pretrain.py saves torch.compile(ACTLossHead(model)).state_dict(), and
    all_config.yaml with its arch: section and data_path."""
    folder = os.path.join(out, "checkpoint")
    os.makedirs(folder, exist_ok=True)
    torch.save({"_orig_mod.model." + k: v for k, v in model.state_dict().items()}, os.path.join(folder, f"step_{STEP}"))
    arch_section = {"name": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1",
                    "loss": {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"},
                    "halt_exploration_prob": 0.1,
                    **{k: v for k, v in cfg.items() if k not in ("seq_len", "vocab_size", "num_puzzle_identifiers")}}
    with open(os.path.join(folder, "all_config.yaml"), "w") as f:
        yaml.safe_dump({"arch": arch_section, "data_path": "data", "global_batch_size": 384, "epochs": 20000,
                        "lr": 7e-5, "puzzle_emb_lr": 7e-5, "weight_decay": 1.0, "puzzle_emb_weight_decay": 1.0,
                        "checkpoint_path": "checkpoint"}, f, sort_keys=False)
    return os.path.join(folder, f"step_{STEP}")


def write_dataset(task, out):
    """dataset.json and identifiers.json as their builders write them (PuzzleDatasetMetadata)."""
    data = os.path.join(out, "data")
    os.makedirs(os.path.join(data, "test"), exist_ok=True)
    meta = {"pad_id": 0, "ignore_label_id": 0, "blank_identifier_id": 0, "vocab_size": task.vocab,
            "seq_len": task.seq_len, "num_puzzle_identifiers": 1, "total_groups": len(task.files),
            "mean_puzzle_examples": 1.0, "sets": ["all"]}
    with open(os.path.join(data, "test", "dataset.json"), "w") as f:
        json.dump(meta, f)
    with open(os.path.join(data, "identifiers.json"), "w") as f:
        json.dump(["<blank>"], f)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sapient", required=True, help="a checkout of github.com/sapientinc/HRM (its source tree)")
    p.add_argument("--task", required=True, choices=("sudoku", "maze"))
    p.add_argument("--pos-encodings", choices=("rope", "learned"), default="rope")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    task = tasks.TASKS[args.task]
    cfg = arch(task, args.pos_encodings)
    model = their_model(args.sapient, cfg, args.seed)
    checkpoint = write_checkpoint(model, cfg, args.out)
    write_dataset(task, args.out)
    cases = []
    for source, grid in tasks.check_inputs(task):
        tokens = tasks.encode(task, grid)
        cases.append({"source": source, "puzzle": "<blank>", "tokens": tokens,
                      "steps": run_theirs(model, tokens, cfg["halt_max_steps"])})
    golden = {"format": GOLDEN_FORMAT,
              "reference": f"sapientinc/HRM HierarchicalReasoningModel_ACTV1, PyTorch {torch.__version__}, "
                           "forward_dtype float32, eval mode, batch 1, from initial_carry",
              "task": task.name, "pos_encodings": args.pos_encodings, "seed": args.seed,
              "parameters": sum(t.numel() for t in model.parameters()), "cases": cases}
    with open(os.path.join(args.out, GOLDEN_FILE), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    halts = [next((i + 1 for i, s in enumerate(c["steps"]) if s["q"][0] > s["q"][1]), None) for c in cases]
    print(f"their model: {golden['parameters']} parameters; first q_halt > q_continue per case: {halts}")
    # The bundle, as a user would make it: the task comes from all_config.yaml's data_path.
    return hrm_export.main(["--family", "act-v1", "--checkpoint", checkpoint, "--check-cases", "1",
                            "--name", os.path.basename(os.path.normpath(args.out)),
                            "--out", os.path.join(args.out, "bundle")])


if __name__ == "__main__":
    sys.exit(main())
