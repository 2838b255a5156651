#!/usr/bin/python3
"""Train a small act-v1 HRM on Sudoku, with sapient's recipe, on this machine's CPU.

    /usr/bin/python3 engine/export/train_sudoku.py --out /tmp/sudoku-run

The model is sapientinc/HRM's HierarchicalReasoningModel_ACTV1 (engine/export/act_v1.py,
their parameter names), smaller, with learned positions (their Full Sudoku-Hard recipe:
arch.pos_encodings=learned). The recipe is theirs (pretrain.py, models/losses.py,
models/hrm/hrm_act_v1.py, as read there):
- ACT with carried state: a batch of slots; a slot whose puzzle halted takes a new
  puzzle and restarts from H_init/L_init, the others carry z_H and z_L (detached) on;
- one ACT step runs H_cycles x L_cycles updates, all but the last L and H update
  without gradients (their 1-step gradient);
- halting: q_halt > q_continue, at the latest after halt_max_steps, with exploration
  (probability 0.1, a random minimum of 2..halt_max_steps steps);
- losses: stablemax cross-entropy per cell, divided by the cells of each puzzle; the
  q_halt head learns whether the puzzle is exactly right (binary cross-entropy), the
  q_continue head the bootstrapped target sigmoid(max(next q_halt, next q_continue))
  (next q_halt on the last step), from one extra forward without gradients; total
  lm + 0.5 (q_halt + q_continue), summed over the batch, divided by its size;
- the puzzle embedding (one row: Sudoku has no per-puzzle identifier) trained by sign
  SGD with weight decay, as their CastedSparseEmbeddingSignSGD.
Three things differ, said here: the optimiser is AdamW (their AdamATan2 is not packaged
for Debian); the data is puzzles generated on the fly (engine/export/sudoku.py: random
solved grids under their augmentation, a random number of blanks) instead of their
Sudoku-Extreme set, which we cannot download; and the blanks grow over the first half
of training (Puzzles.progress). The loss and halt_max_steps default to their Full
Sudoku-Hard recipe's (softmax cross-entropy, 8 steps); --loss stablemax_cross_entropy
--halt-max-steps 16 gives their default's.

The folder gets what sapient's pretrain.py leaves, for the exporter to read as a real
checkpoint: checkpoint/step_N (the state_dict, keys `model.inner.`...),
checkpoint/all_config.yaml (arch and data_path), data/train/dataset.json and
data/identifiers.json; and train.log, ending with exact and valid shares on puzzles the
training never drew, by number of blanks, under q-halting and at every step (their evaluation).
engine/export/train_sudoku.log is the log of the run docs/models.md measures.
"""

import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import act_v1  # noqa: E402
import sudoku  # noqa: E402

PRESETS = {
    "model": {"hidden_size": 64, "num_heads": 4, "H_layers": 1, "L_layers": 1, "batch": 64,
              "steps": 2500, "lr": 3e-3, "warmup": 100, "blanks": (1, 45)},
    "smoke": {"hidden_size": 64, "num_heads": 4, "H_layers": 1, "L_layers": 1, "batch": 32,
              "steps": 200, "lr": 1e-3, "warmup": 20, "blanks": (2, 12)},
}
# Their Full Sudoku-Hard recipe's halt_max_steps and loss (config/arch/hrm_v1.yaml has 16 and
# stablemax): with 16 and stablemax this model stayed as far from filling a blank (docs/models.md, our Sudoku model).
HALT_MAX_STEPS = 8
EXPLORATION = 0.1
WEIGHT_DECAY = 0.1
PUZZLE_EMB_LR = 1e-2
LR_MIN_RATIO = 0.1
CURRICULUM_START = 12
BASE_GRIDS = 2000  # solved grids drawn first; each puzzle is one of them under a fresh shuffle
EVAL_SEED_OFFSET = 1_000_003  # the held-out puzzles come from a stream training never draws
EVAL_BANDS = ((10, 19), (20, 29), (30, 39), (40, 49), (50, 59))


def model_config(preset):
    cfg = dict(act_v1.SIZES["tiny"])
    cfg.update({k: preset[k] for k in ("hidden_size", "num_heads", "H_layers", "L_layers")})
    cfg.update(seq_len=sudoku.CELLS, vocab_size=11, puzzle_emb_ndim=preset["hidden_size"],
               num_puzzle_identifiers=1, pos_encodings="learned", halt_max_steps=HALT_MAX_STEPS)
    return cfg


class Puzzles:
    """An endless stream of (tokens, labels) pairs, sapient's encoding: digit d -> d + 1.
    The most blanks a puzzle may have grows from CURRICULUM_START to blanks[1] over the
    first half of training (set by `progress`): with a few blanks the cells that fill them
    are easy to see, and the model finds the rows, columns and boxes sooner."""

    def __init__(self, seed, blanks, base_grids=BASE_GRIDS):
        self.rng = random.Random(seed)
        self.blanks = blanks
        self.most = blanks[1]
        self.grids = [sudoku.solved_grid(self.rng) for _ in range(base_grids)]

    def progress(self, fraction):
        grow = min(1.0, 2 * fraction)
        self.most = round(CURRICULUM_START + grow * (self.blanks[1] - CURRICULUM_START))

    def draw(self, n, blanks=None):
        boards, labels = [], []
        for _ in range(n):
            solution = self.rng.choice(self.grids)
            board = sudoku.blank_out(solution, blanks or self.rng.randint(self.blanks[0], self.most), self.rng)
            board, solution = sudoku.shuffle_pair(board, solution, self.rng)
            boards.append(board.ravel() + 1)
            labels.append(solution.ravel() + 1)
        return torch.tensor(np.array(boards)), torch.tensor(np.array(labels))


def log_stablemax(x):
    s = torch.where(x < 0, 1 / (1 - x + 1e-30), x + 1)
    return torch.log(s / s.sum(-1, keepdim=True))


def softmax_cross_entropy(logits, labels):
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view(labels.shape)


def stablemax_cross_entropy(logits, labels):
    logprobs = log_stablemax(logits.to(torch.float64))
    return -torch.gather(logprobs, -1, labels.unsqueeze(-1)).squeeze(-1)


LOSSES = {"stablemax_cross_entropy": stablemax_cross_entropy, "softmax_cross_entropy": softmax_cross_entropy}


def inner_step(inner, x, z_h, z_l, grad):
    """One ACT step; without grad all of it, with grad only its last L and H update."""
    cos, sin = (None, None)
    cfg = inner.config
    with torch.no_grad():
        for h in range(cfg["H_cycles"]):
            for ell in range(cfg["L_cycles"]):
                if grad and h == cfg["H_cycles"] - 1 and ell == cfg["L_cycles"] - 1:
                    break
                z_l = inner.L_level(z_l, z_h + x, cos, sin)
            if grad and h == cfg["H_cycles"] - 1:
                break
            z_h = inner.H_level(z_h, z_l, cos, sin)
    if grad:
        z_l = inner.L_level(z_l, z_h + x, cos, sin)
        z_h = inner.H_level(z_h, z_l, cos, sin)
    logits = inner.lm_head(z_h)[:, inner.puzzle_emb_len:]
    q = inner.q_head(z_h[:, 0])
    return z_h.detach(), z_l.detach(), logits, q[:, 0], q[:, 1]


class Carry:
    """The batch's slots: each one's puzzle, state and steps so far."""

    def __init__(self, model, batch):
        inner = model.inner
        positions = inner.config["seq_len"] + inner.puzzle_emb_len
        hidden = inner.config["hidden_size"]
        self.z_h = torch.zeros(batch, positions, hidden)
        self.z_l = torch.zeros(batch, positions, hidden)
        self.steps = torch.zeros(batch, dtype=torch.long)
        self.halted = torch.ones(batch, dtype=torch.bool)
        self.tokens = torch.zeros(batch, sudoku.CELLS, dtype=torch.long)
        self.labels = torch.zeros(batch, sudoku.CELLS, dtype=torch.long)

    def refill(self, model, puzzles):
        idx = self.halted.nonzero().flatten()
        if len(idx):
            self.tokens[idx], self.labels[idx] = puzzles.draw(len(idx))
            self.z_h[idx] = model.inner.H_init
            self.z_l[idx] = model.inner.L_init
            self.steps[idx] = 0


def train_step(model, carry, puzzles):
    """One ACT step over the batch; returns the loss and the halted slots' metrics."""
    carry.refill(model, puzzles)
    inner = model.inner
    rows = inner.puzzle_emb.weights[torch.zeros(len(carry.tokens), dtype=torch.long)]
    x = inner.input_embeddings(carry.tokens, rows)
    carry.z_h, carry.z_l, logits, q_halt, q_continue = inner_step(inner, x, carry.z_h, carry.z_l, grad=True)
    with torch.no_grad():
        carry.steps += 1
        max_steps = model.config["halt_max_steps"]
        last = carry.steps >= max_steps
        halted = last | (q_halt > q_continue)
        explore = (torch.rand(len(last)) < EXPLORATION) * torch.randint(2, max_steps + 1, last.shape)
        halted &= carry.steps >= explore
        _, _, _, next_halt, next_continue = inner_step(inner, x.detach(), carry.z_h, carry.z_l, grad=False)
        target = torch.sigmoid(torch.where(last, next_halt, torch.maximum(next_halt, next_continue)))
        correct = logits.argmax(-1) == carry.labels
        solved = correct.all(-1)
    lm = (LOSSES[model.loss_type](logits, carry.labels) / sudoku.CELLS).sum()
    q_halt_loss = F.binary_cross_entropy_with_logits(q_halt, solved.float(), reduction="sum")
    q_continue_loss = F.binary_cross_entropy_with_logits(q_continue, target, reduction="sum")
    loss = lm + 0.5 * (q_halt_loss + q_continue_loss)
    carry.halted = halted
    metrics = {"halted": int(halted.sum()), "cells": float(correct[halted].float().mean(-1).sum()),
               "exact": int(solved[halted].sum()), "steps": int(carry.steps[halted].sum()),
               "q_right": int(((q_halt >= 0) == solved)[halted].sum()), "lm": float(lm) / len(last)}
    return loss / len(last), metrics


def lr_at(step, preset):
    if step < preset["warmup"]:
        return preset["lr"] * (step + 1) / preset["warmup"]
    progress = (step - preset["warmup"]) / max(1, preset["steps"] - preset["warmup"])
    return preset["lr"] * (LR_MIN_RATIO + (1 - LR_MIN_RATIO) * 0.5 * (1 + math.cos(math.pi * progress)))


def evaluate(model, puzzles, per_band):
    """Exact and valid shares by blanks, under q-halting (from step 1) and at every step."""
    lines = []
    with torch.no_grad():
        for lo, hi in EVAL_BANDS:
            boards, labels = [], []
            for _ in range(per_band):
                b, lab = puzzles.draw(1, blanks=puzzles.rng.randint(lo, hi))
                boards.append(b[0])
                labels.append(lab[0])
            tokens, labels = torch.stack(boards), torch.stack(labels)
            steps = model.config["halt_max_steps"]
            trace = model.trace(tokens, torch.zeros(len(tokens), dtype=torch.long), steps)
            halt_at = torch.full((len(tokens),), steps - 1)
            for i in reversed(range(steps)):
                q = trace[i][1]
                halt_at = torch.where(q[:, 0] > q[:, 1], torch.tensor(i), halt_at)
            preds = {"q": torch.stack([trace[int(s)][0][j].argmax(-1) for j, s in enumerate(halt_at)]),
                     "all steps": trace[-1][0].argmax(-1)}
            parts = [f"blanks {lo}-{hi}:"]
            for name, pred in preds.items():
                exact = (pred == labels).all(-1).float().mean().item()
                valid = np.mean([sudoku.violation((t - 1).view(9, 9).numpy(), (p - 1).view(9, 9).numpy()) is None
                                 for t, p in zip(tokens, pred)])
                parts.append(f"{name}: exact {exact:.3f} valid {valid:.3f}")
            parts.append(f"mean q-steps {(halt_at + 1).float().mean().item():.2f}")
            lines.append("  ".join(parts))
    return lines


def save(model, out, step, cfg, log):
    ckpt = os.path.join(out, "checkpoint")
    data = os.path.join(out, "data")
    os.makedirs(ckpt, exist_ok=True)
    os.makedirs(os.path.join(data, "train"), exist_ok=True)
    state = {"model." + k: v for k, v in model.state_dict().items()}
    torch.save(state, os.path.join(ckpt, f"step_{step}"))
    arch = {k: cfg[k] for k in ("H_cycles", "L_cycles", "H_layers", "L_layers", "hidden_size", "num_heads",
                                "expansion", "pos_encodings", "halt_max_steps")}
    arch.update(name="hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1", halt_exploration_prob=EXPLORATION,
                puzzle_emb_ndim=cfg["puzzle_emb_ndim"],
                loss={"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"})
    with open(os.path.join(ckpt, "all_config.yaml"), "w") as f:
        yaml.safe_dump({"arch": arch, "data_path": os.path.abspath(data), "trained_by": log}, f, sort_keys=False)
    meta = {"pad_id": 0, "ignore_label_id": 0, "blank_identifier_id": 0, "vocab_size": 11, "seq_len": 81,
            "num_puzzle_identifiers": 1, "total_groups": 0, "mean_puzzle_examples": 1, "sets": ["all"]}
    with open(os.path.join(data, "train", "dataset.json"), "w") as f:
        json.dump(meta, f)
    with open(os.path.join(data, "identifiers.json"), "w") as f:
        f.write('["<blank>"]\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="model")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--steps", type=int, help="override the preset's step count")
    ap.add_argument("--lr", type=float, help="override the preset's peak learning rate")
    ap.add_argument("--loss", choices=sorted(LOSSES), default="softmax_cross_entropy",
                    help="their Full Sudoku-Hard recipe's (the default) or their default stablemax")
    ap.add_argument("--halt-max-steps", type=int, default=HALT_MAX_STEPS)
    ap.add_argument("--eval-per-band", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1,
                    help="1: on a shared machine each op's wait for a second thread costs more than it gains")
    ap.add_argument("--save-every", type=int, default=500)
    args = ap.parse_args()
    preset = dict(PRESETS[args.preset])
    if args.steps:
        preset["steps"] = args.steps
    if args.lr:
        preset["lr"] = args.lr
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = model_config(preset)
    cfg["halt_max_steps"] = args.halt_max_steps
    model = act_v1.ACTV1(cfg)
    model.loss_type = args.loss
    model.train()
    emb = model.inner.puzzle_emb.weights.requires_grad_(True)
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=preset["lr"], betas=(0.9, 0.95), weight_decay=WEIGHT_DECAY)
    puzzles = Puzzles(args.seed, preset["blanks"])
    os.makedirs(args.out, exist_ok=True)
    n_params = sum(p.numel() for p in params)
    head = (f"train_sudoku.py --preset {args.preset} --seed {args.seed}: act-v1 "
            f"hidden {cfg['hidden_size']}, heads {cfg['num_heads']}, {cfg['H_layers']} H + {cfg['L_layers']} L "
            f"layers, cycles {cfg['H_cycles']}x{cfg['L_cycles']}, learned positions, {n_params} parameters; "
            f"{preset['steps']} steps of {preset['batch']} slots, blanks {preset['blanks'][0]}-{preset['blanks'][1]}, "
            f"peak lr {preset['lr']}, {args.loss}, halt_max_steps {args.halt_max_steps}; PyTorch {torch.__version__}, "
            f"{args.threads} threads")
    log = open(os.path.join(args.out, "train.log"), "w")

    def say(line):
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    say(head)
    carry = Carry(model, preset["batch"])
    start, acc = time.time(), {}
    for step in range(preset["steps"]):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, preset)
        puzzles.progress(step / preset["steps"])
        loss, m = train_step(model, carry, puzzles)
        opt.zero_grad()
        emb.grad = None
        loss.backward()
        opt.step()
        with torch.no_grad():
            lr_emb = PUZZLE_EMB_LR * lr_at(step, preset) / preset["lr"]
            emb.mul_(1 - lr_emb * WEIGHT_DECAY).add_(torch.sign(emb.grad), alpha=-lr_emb)
        for k, v in m.items():
            acc[k] = acc.get(k, 0) + v
        if (step + 1) % 50 == 0:
            n = max(1, acc["halted"])
            say(f"step {step + 1:5d}/{preset['steps']}  {time.time() - start:7.1f}s  lm {acc['lm'] / 50:.4f}  "
                f"cells {acc['cells'] / n:.4f}  exact {acc['exact'] / n:.3f}  q right {acc['q_right'] / n:.3f}  "
                f"steps {acc['steps'] / n:.2f}  ({acc['halted']} halted, blanks up to {puzzles.most})")
            acc = {}
        if (step + 1) % args.save_every == 0 and step + 1 < preset["steps"]:
            save(model, args.out, step + 1, cfg, head)
    model.eval()
    emb.requires_grad_(False)
    save(model, args.out, preset["steps"], cfg, head)
    for line in evaluate(model, Puzzles(args.seed + EVAL_SEED_OFFSET, preset["blanks"]), args.eval_per_band):
        say("held out " + line)
    say(f"trained in {time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
