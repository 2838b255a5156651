#!/usr/bin/python3
"""Time the PyTorch reference on the same model and inputs as the Go benchmark.

    /usr/bin/python3 engine/export/bench_torch.py --random full --seed 1 --batch 1 --runs 3
    /usr/bin/python3 engine/export/bench_torch.py --family act-v1 --random full --runs 1

Prints one line: `torch <size> batch <n>: <ns> ns/row`, to set beside
`go test -bench BenchmarkRun` (./build.sh bench prints both).
"""

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import act_v1  # noqa: E402
import arc  # noqa: E402
import bundle_io  # noqa: E402
import nova  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--family", default="nova", choices=["nova", "act-v1"])
    p.add_argument("--random", default="full", choices=sorted(nova.SIZES))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--arc", default=bundle_io.default_arc_dir())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
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
