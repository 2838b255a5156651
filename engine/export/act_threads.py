#!/usr/bin/python3
"""How far act-v1's fp32 forward moves with the thread count, and how far hrmd is from it.

Our module (act_v1.py, the arithmetic of sapient's class) runs the check set's ARC inputs
for all 16 steps with torch.set_num_threads(1) and again with 2; every step's q and argmax
are compared. With --hrmd and --bundle (the same model, exported by hrm_export.py), hrmd's
raw trace of the same inputs (`hrmd solve --trace raw --halting fixed`, onnxruntime on the
CPU with --ort-threads) is compared with both.

    /usr/bin/python3 engine/export/hrm_export.py --family act-v1 --random full --seed 1 --out /tmp/act-full
    /usr/bin/python3 engine/export/act_threads.py --size full --seed 1 --hrmd bin/hrmd --bundle /tmp/act-full

Prints, for each input and each pair of runs, the largest |q| difference over the steps
and the first step whose argmax differs (with how many of the 900 cells), then the same
over all inputs.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import act_export  # noqa: E402
import act_v1  # noqa: E402
import arc  # noqa: E402
import bundle_io  # noqa: E402


def torch_trace(model, tokens, row, threads):
    """Every step's (argmax [900], q [2]) of one input, with threads intra-op threads."""
    torch.set_num_threads(threads)
    with torch.no_grad():
        trace = model.trace(torch.tensor([tokens], dtype=torch.long), torch.tensor([row]))
    return [(logits[0].argmax(-1).tolist(), q[0].tolist()) for logits, q in trace]


def hrmd_trace(hrmd, bundle, task_file, index, threads):
    """hrmd's raw trace of test input index of task_file, all steps, on the CPU."""
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "hrmd.yaml")
        with open(config, "w") as f:
            f.write(f"onnxruntime: {{providers: [cpu], threads: {threads}}}\n"
                    f"inference: {{demo_check: false, input_invariant: off}}\n")
        out = subprocess.run([hrmd, "solve", task_file, "--model", bundle, "--config", config,
                              "--trace", "raw", "--halting", "fixed"], check=True, capture_output=True)
    trace = json.loads(out.stdout)["answers"][index]["trace"]
    return [(c["tokens"], c["halt_output"]) for c in trace]


def compare(a, b):
    """Largest |q| difference, and the first step whose argmax differs with its cells."""
    q = max(abs(x - y) for (_, qa), (_, qb) in zip(a, b) for x, y in zip(qa, qb))
    for step, ((ta, _), (tb, _)) in enumerate(zip(a, b), start=1):
        cells = sum(x != y for x, y in zip(ta, tb))
        if cells:
            return q, step, cells
    return q, None, 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", default="full", choices=sorted(act_v1.SIZES))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cases", type=int, default=len(bundle_io.GOLDEN_INPUTS))
    p.add_argument("--hrmd", help="an hrmd binary, to compare its raw trace too")
    p.add_argument("--bundle", help="the bundle of the same model, for --hrmd")
    p.add_argument("--ort-threads", type=int, default=2)
    p.add_argument("--arc", default=bundle_io.default_arc_dir())
    args = p.parse_args()
    model = act_v1.random_model(args.size, args.seed)
    rows = {n: i for i, n in enumerate(act_export.RANDOM_IDENTIFIERS)}
    worst = {}
    for split, task_id, index in bundle_io.GOLDEN_INPUTS[:args.cases]:
        tokens = arc.encode_arc_eos(bundle_io.load_arc_input(args.arc, split, task_id, index))
        row = rows.get(task_id, 0)  # hrmd's rule and the check set's: the task's row, else the blank
        runs = {"torch 1 thread": torch_trace(model, tokens, row, 1),
                "torch 2 threads": torch_trace(model, tokens, row, 2)}
        if args.hrmd:
            task_file = os.path.join(args.arc, split, task_id + ".json")
            runs[f"hrmd {args.ort_threads} threads"] = hrmd_trace(args.hrmd, args.bundle, task_file, index,
                                                                  args.ort_threads)
        names = list(runs)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                q, step, cells = compare(runs[a], runs[b])
                flip = f"argmax first differs at step {step} ({cells} cells)" if step else "argmax equal every step"
                print(f"{split}/{task_id} test[{index}]: {a} vs {b}: max |q diff| {q:.3g}, {flip}")
                w = worst.setdefault((a, b), [0.0, None])
                w[0] = max(w[0], q)
                if step and (w[1] is None or step < w[1]):
                    w[1] = step
    print(f"all {args.cases} inputs, {args.size} seed {args.seed}, {torch.__version__}:")
    for (a, b), (q, step) in worst.items():
        print(f"  {a} vs {b}: max |q diff| {q:.3g}, earliest argmax difference at step {step or 'none'}")


if __name__ == "__main__":
    main()
