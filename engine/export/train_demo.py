#!/usr/bin/python3
"""Train hrmd's demo model: a small nova HRM that learns the "halo" family.

    /usr/bin/python3 engine/export/train_demo.py --out engine/models/demo

The model is dp-web4's nova architecture (engine/export/nova.py), only smaller,
trained from a fixed seed on puzzles generated on the fly (engine/export/halo.py:
every red cell gets a blue ring). It is saved as a dp-web4 checkpoint and exported
by the same code path as a real checkpoint, so the bundle exercises everything a
user's model does. The folder gets init.onnx, step.onnx, hrm.yaml and train.log;
the log ends with the exact-match score on puzzles the training never saw.

Training: batches of grids sharing one height, most of them cut after the grid's
EOS row (attention costs the square of the length, and what follows is padding),
the rest the full 900 tokens the engine runs, so that the model, and its halt
head, which averages over every position, learn on what they will see. Both
cycles are supervised (cross-entropy on every token), and the halt head learns
whether that cycle's answer is exactly right.
"""

import argparse
import hashlib
import math
import os
import sys
import tempfile
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import arc  # noqa: E402
import halo  # noqa: E402
import nova  # noqa: E402
import nova_export  # noqa: E402

SIDE = 30

# "demo" is the committed bundle; "smoke" proves the script learns, in minutes.
PRESETS = {
    "demo": {"hidden_size": 64, "num_heads": 8, "num_h_layers": 1, "num_l_layers": 1,
             "max_side": halo.MAX_SIDE, "steps": 1600, "batch": 16, "full_batch": 4, "lr": 2e-3},
    "smoke": {"hidden_size": 64, "num_heads": 8, "num_h_layers": 1, "num_l_layers": 1,
              "max_side": 6, "steps": 700, "batch": 16, "full_batch": 2, "lr": 3e-3},
}
# Both cycles are supervised; nova halts no earlier than cycle 2 (min_cycles), and
# this model stops there: a third cycle it was never trained for could only undo work.
TRAIN_CYCLES = 2
MAX_CYCLES = 2
CYCLE_WEIGHTS = (0.5, 1.0)
FULL_FRACTION = 0.2  # share of batches run at all 900 tokens, as the engine runs them
HALT_WEIGHT = 0.2
EVAL_SEED_OFFSET = 1_000_003  # puzzles for the final score come from a stream training never draws


def model_config(preset):
    cfg = dict(nova.SIZES["tiny"])
    for key in ("hidden_size", "num_heads", "num_h_layers", "num_l_layers"):
        cfg[key] = preset[key]
    cfg["dropout"] = 0.0
    cfg["max_cycles"] = MAX_CYCLES
    return cfg


def side(rng, max_side):
    """A grid side, larger ones more often: positions far from the top left are
    seen only in large grids, and they are what a small model learns last."""
    return max(rng.randint(halo.MIN_SIDE, max_side), rng.randint(halo.MIN_SIDE, max_side))


def batch(rng, size, max_side, full):
    """size (input tokens, target tokens), all grids of one random height.

    Unless full, the sequence stops after the grid's EOS row: what follows is
    padding, and attention costs the square of the length.
    """
    h = side(rng, max_side)
    length = SIDE * SIDE if full else SIDE * min(SIDE, h + 1)
    xs, ys = [], []
    for _ in range(size):
        g = halo.random_input(rng, h=h, w=side(rng, max_side))
        xs.append(arc.encode_arc_eos(g, SIDE)[:length])
        ys.append(arc.encode_arc_eos(halo.apply(g), SIDE)[:length])
    return torch.tensor(xs), torch.tensor(ys)


def learning_rate(step, steps, peak):
    warm = max(1, steps // 20)
    if step < warm:
        return peak * (step + 1) / warm
    t = (step - warm) / max(1, steps - warm)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def train(model, preset, seed, log):
    rng = halo.rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=preset["lr"], weight_decay=0.01)
    ce = nn.CrossEntropyLoss()
    bce = nn.BCELoss()
    steps = preset["steps"]
    model.train()
    start = time.monotonic()
    window = []
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, steps, preset["lr"])
        if rng.random() < FULL_FRACTION:
            x, y = batch(rng, preset["full_batch"], preset["max_side"], True)
        else:
            x, y = batch(rng, preset["batch"], preset["max_side"], False)
        h, l = model.embed(x)
        loss = 0.0
        for weight in CYCLE_WEIGHTS:
            h, l, logits, halt = model.cycle(h, l)
            loss = loss + weight * ce(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
            exact = (logits.argmax(-1) == y).all(dim=1).float()
            loss = loss + HALT_WEIGHT * bce(halt.squeeze(-1).clamp(1e-6, 1 - 1e-6), exact)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        pred = logits.argmax(-1)
        window.append((float(loss), float((pred == y).float().mean()), float(exact.mean()),
                       float(halt.mean())))
        if (step + 1) % 50 == 0 or step + 1 == steps:
            n = len(window)
            avg = [sum(v[i] for v in window) / n for i in range(4)]
            log(f"step {step + 1:5d}/{steps}  {time.monotonic() - start:7.1f}s  loss {avg[0]:.4f}  "
                f"token acc {avg[1]:.4f}  exact {avg[2]:.3f}  halt {avg[3]:.3f}")
            window = []
    model.eval()
    return time.monotonic() - start


def solve(model, grids, max_cycles=MAX_CYCLES):
    """Decoded answers and cycles used, halting per row as the engine does."""
    x = torch.tensor([arc.encode_arc_eos(g, SIDE) for g in grids])
    answers, used = [None] * len(grids), [max_cycles] * len(grids)
    with torch.no_grad():
        trace = model.trace(x, max_cycles)
    for i in range(len(grids)):
        for c, (logits, halt) in enumerate(trace):
            last = c + 1 == max_cycles
            if last or (c + 1 >= nova.MIN_CYCLES and float(halt[i, 0]) > nova.HALT_THRESHOLD):
                answers[i] = arc.decode_arc_eos(logits[i].argmax(-1).tolist(), SIDE)
                used[i] = c + 1
                break
    return answers, used


def evaluate(model, seed, count, max_side=halo.MAX_SIDE, chunk=20):
    """How many of count fresh puzzles (sides up to max_side) the model answers exactly."""
    rng = halo.rng(seed)
    inputs = [halo.random_input(rng, rng.randint(halo.MIN_SIDE, max_side), rng.randint(halo.MIN_SIDE, max_side))
              for _ in range(count)]
    solved, cycles = 0, 0
    for i in range(0, count, chunk):
        part = inputs[i:i + chunk]
        answers, used = solve(model, part)
        solved += sum(a == halo.apply(g) for a, g in zip(answers, part))
        cycles += sum(used)
    return solved, cycles / count


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="bundle folder to write (e.g. engine/models/demo)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="demo")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--steps", type=int, help="training steps (default: the preset's)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the preset's)")
    p.add_argument("--eval", type=int, default=200, help="fresh puzzles scored at the end (default 200)")
    p.add_argument("--checkpoint", help="also keep the dp-web4 checkpoint here")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = p.parse_args(argv)

    preset = dict(PRESETS[args.preset])
    if args.steps is not None:
        preset["steps"] = args.steps
    if args.lr is not None:
        preset["lr"] = args.lr
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    lines = []

    def log(line):
        print(line, flush=True)
        lines.append(line)

    cfg = model_config(preset)
    model = nova.HierarchicalReasoningModule(cfg)
    params = sum(t.numel() for t in model.parameters())
    log(f"# train_demo.py --preset {args.preset} --seed {args.seed}: halo family; "
        f"nova hidden {cfg['hidden_size']}, heads {cfg['num_heads']}, "
        f"{cfg['num_h_layers']} H + {cfg['num_l_layers']} L layers, {params} parameters; "
        f"{preset['steps']} steps of {preset['batch']} grids up to {preset['max_side']}x{preset['max_side']} "
        f"({int(FULL_FRACTION * 100)}% of them batches of {preset['full_batch']} at all 900 tokens); "
        f"peak lr {preset['lr']}, {TRAIN_CYCLES} supervised cycles; PyTorch {torch.__version__}, {args.threads} threads")
    seconds = train(model, preset, args.seed, log)
    log(f"# trained in {seconds / 60:.1f} min")

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint or os.path.join(tmp, "halo-demo.pt")
        torch.save({"model_state_dict": model.state_dict(), "global_step": preset["steps"],
                    "epoch": 0, "config": cfg}, ckpt)
        # The exporter's own checkpoint path, exactly as for a user's model.
        loaded, step = nova.load_checkpoint(ckpt)
        source = {"checkpoint": f"train_demo.py:halo:preset={args.preset}:seed={args.seed}",
                  "step": step, "sha256": sha256_file(ckpt)}
        m = nova_export.write_bundle(loaded, args.out, "halo-demo", source)
    side = preset["max_side"]
    solved, cycles = evaluate(loaded, args.seed + EVAL_SEED_OFFSET, args.eval, side)
    log(f"# exact on {args.eval} fresh halo puzzles up to {side}x{side} (seed {args.seed + EVAL_SEED_OFFSET}): "
        f"{solved}/{args.eval} = {100 * solved / max(1, args.eval):.1f}%, mean cycles {cycles:.2f}")
    with open(os.path.join(args.out, "train.log"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}: {m['name']}, step {m['graphs']['step']['sha256'][:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
