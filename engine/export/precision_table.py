#!/usr/bin/python3
"""The measurement behind the check's tau and delta, as Markdown: `hrmd verify --json` of precision
proxies (engine/export/simulate_precision.py), one file each, summed up per bundle and format, then
every case and cycle where a cell flipped. ./build.sh measure-precision runs it.

    /usr/bin/python3 engine/export/precision_table.py VERIFY.json ...
"""

import json
import sys


def load(paths):
    reports = []
    for path in paths:
        with open(path) as f:
            r = json.load(f)
        if not r.get("proxy"):
            raise ValueError(f"{path}: not the verify report of a precision proxy (no proxy in it)")
        reports.append(r)
    return reports


def fmt(x, spec=".3f"):
    return "–" if x is None else format(x, spec)


def summary_row(r):
    c = r["check"]
    cycles = c.get("cycles") or []
    flips = sum(row["flips"] for row in cycles)
    margins = [m for row in cycles for m in row.get("flip_margins") or []]
    halt_margin_diff = [abs(row["halt_margin"] - row["ref_halt_margin"]) for row in cycles
                        if row.get("halt_margin") is not None and row.get("ref_halt_margin") is not None]
    halting = f"{c['halt_cycles_same']}/{c['inputs']}"
    if c["halting_skipped"]:
        halting += f" ({c['halting_skipped']} undecided)"
    return "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
        r["proxy"]["of"], r["proxy"]["precision"], len(cycles), flips, c["flips_counted"],
        fmt(max(margins) if margins else None), fmt(min(margins) if margins else None),
        halting, fmt(c["max_halt_diff"], ".4f"), fmt(max(halt_margin_diff) if halt_margin_diff else None),
        "pass" if c["passed"] else "**fail**")


def detail_rows(r, only):
    c = r["check"]
    for row in c.get("cycles") or []:
        if row["flips"] == 0 or r["proxy"]["precision"] not in only:
            continue
        shown = " ".join(f"{m:.3f}" for m in row["flip_margins"])
        if row["flips"] > len(row["flip_margins"]):
            shown += f" (+{row['flips'] - len(row['flip_margins'])} smaller)"
        yield "| {} | {} | {} | {} | {} | {} |".format(
            r["proxy"]["of"], r["proxy"]["precision"], row["case"], row["cycle"], row["flips"], shown)


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        reports = load(argv)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    tau, delta = reports[0]["check"]["tau"], reports[0]["check"]["delta"]
    print(f"Per bundle and format: the cycles compared (cases x cycles to the halt), the cells whose argmax "
          f"differs from the fp32 reference, those decided (reference margin above tau {tau}), the largest "
          f"and smallest reference margin at a flipped cell (logits), the halting cycles equal (undecided: "
          f"within delta {delta} of the boundary), the largest change of the halt probability and of the "
          "halt logit's distance to its boundary (q_halt − q_continue for act-v1), and the verdict.\n")
    print("| bundle | format | cycles | cells flipped | decided | largest margin flipped | smallest | "
          "halting same | halt diff | halt logit diff | verdict |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in reports:
        print(summary_row(r))
    rows = [row for r in reports for row in detail_rows(r, ("fp16",))]
    print("\nEvery case and cycle where fp16 flipped a cell, with the reference's margins there "
          "(the ten largest):\n")
    print("| bundle | format | case | cycle | cells flipped | reference margins |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(row)
    if not rows:
        print("| (none) | | | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
