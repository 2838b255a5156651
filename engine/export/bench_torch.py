#!/usr/bin/python3
"""Time the PyTorch reference on the same model and inputs as the Go benchmark.

    /usr/bin/python3 engine/export/bench_torch.py --random full --seed 1 --batch 1 --runs 3

Prints one line: `torch <size> batch <n>: <ns> ns/row`, to set beside
`go test -bench BenchmarkRun` (./build.sh bench prints both).
"""

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import arc  # noqa: E402
import hrm_export  # noqa: E402
import nova  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--random", default="full", choices=sorted(nova.SIZES))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--arc", default=hrm_export.default_arc_dir())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = nova.random_model(args.random, args.seed)
    rows = [arc.encode_arc_eos(hrm_export.load_arc_input(args.arc, *g)) for g in hrm_export.GOLDEN_INPUTS]
    x = torch.tensor(rows[: args.batch], dtype=torch.long)
    cycles = model.config["max_cycles"]
    with torch.no_grad():
        model.trace(x, cycles)  # warm-up
        start = time.perf_counter()
        for _ in range(args.runs):
            model.trace(x, cycles)
        elapsed = time.perf_counter() - start
    print(f"torch {args.random} batch {args.batch}: {elapsed * 1e9 / (args.runs * args.batch):.0f} ns/row "
          f"({cycles} cycles, {args.threads} threads, torch {torch.__version__})")


if __name__ == "__main__":
    main()
