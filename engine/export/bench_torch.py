#!/usr/bin/python3
"""Time the PyTorch reference on the same model and inputs as the Go benchmark.

    /usr/bin/python3 engine/export/bench_torch.py --random full --seed 1 --batch 1 --runs 3
    /usr/bin/python3 engine/export/bench_torch.py --family act-v1 --random full --runs 1
    /usr/bin/python3 engine/export/bench_torch.py --checkpoint RUN/checkpoint/step_N --tasks DIR

--checkpoint times a trained act-v1 the way sapient's evaluation runs it: every task file's
first test input in DIR, in batches of --batch, each for all halt_max_steps steps.

Prints one line: `torch <size> batch <n>: <ns> ns/row`, to set beside
`go test -bench BenchmarkRun` (./build.sh bench prints both).
"""

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import act_export  # noqa: E402
import act_v1  # noqa: E402
import arc  # noqa: E402
import bundle_io  # noqa: E402
import nova  # noqa: E402
import tasks  # noqa: E402


def bench_checkpoint(args):
    """Per puzzle: every input of --tasks through all halt_max_steps steps, as their evaluation."""
    # Loaded as the exporter loads it: the task from the dataset.json it finds.
    found = argparse.Namespace(checkpoint=args.checkpoint, config=None, task=None, dataset=None, arch=None,
                               identifiers=None)
    model, _, task, _ = act_export.from_checkpoint(found)
    model.eval()
    rows = []
    for name in sorted(os.listdir(args.tasks)):
        with open(os.path.join(args.tasks, name)) as f:
            rows.append(tasks.encode(task, json.load(f)["test"][0]["input"]))
    steps = model.config["halt_max_steps"]
    with torch.no_grad():
        model.trace(torch.tensor(rows[:args.batch]), torch.zeros(min(args.batch, len(rows)), dtype=torch.long), steps)
        start = time.perf_counter()
        for i in range(0, len(rows), args.batch):
            batch = torch.tensor(rows[i:i + args.batch])
            model.trace(batch, torch.zeros(len(batch), dtype=torch.long), steps)
        elapsed = time.perf_counter() - start
    print(f"torch {os.path.basename(args.checkpoint)} batch {args.batch}: {elapsed * 1e3 / len(rows):.2f} ms/puzzle "
          f"({len(rows)} puzzles, {steps} steps each, {args.threads} threads, torch {torch.__version__})")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--family", default="nova", choices=["nova", "act-v1"])
    p.add_argument("--random", default="full", choices=sorted(nova.SIZES))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--arc", default=bundle_io.default_arc_dir())
    p.add_argument("--checkpoint", help="a trained act-v1 step_N (all_config.yaml beside it), run on --tasks")
    p.add_argument("--tasks", help="with --checkpoint: a folder of task files of the checkpoint's task")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.checkpoint:
        return bench_checkpoint(args)
    rows = [arc.encode_arc_eos(bundle_io.load_arc_input(args.arc, *g)) for g in bundle_io.GOLDEN_INPUTS]
    x = torch.tensor(rows[: args.batch], dtype=torch.long)
    if args.family == "act-v1":
        # All 16 steps, as the reference evaluation runs them, under the blank row.
        model = act_v1.random_model(args.random, args.seed).eval()
        cycles = model.config["halt_max_steps"]
        ids = torch.zeros(args.batch, dtype=torch.long)
        run = lambda: model.trace(x, ids, cycles)  # noqa: E731
    else:
        model = nova.random_model(args.random, args.seed)
        cycles = model.config["max_cycles"]
        run = lambda: model.trace(x, cycles)  # noqa: E731
    with torch.no_grad():
        run()  # warm-up
        start = time.perf_counter()
        for _ in range(args.runs):
            run()
        elapsed = time.perf_counter() - start
    print(f"torch {args.family} {args.random} batch {args.batch}: {elapsed * 1e9 / (args.runs * args.batch):.0f} ns/row "
          f"({cycles} cycles, {args.threads} threads, torch {torch.__version__})")


if __name__ == "__main__":
    main()
