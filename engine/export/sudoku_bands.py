#!/usr/bin/python3
"""A Sudoku model's `hrmd eval --report` by number of blanks, as a Markdown table: per band of
ten blanks, the puzzles, those exactly right against their key, those the rules call valid
(`verified`, no key needed) and the mean steps run. Each report is one halting mode; give
several to set them side by side.

    /usr/bin/python3 engine/export/sudoku_bands.py NAME=REPORT.json ...

The blanks are counted from each task file's own test input.
"""

import json
import sys
from collections import defaultdict


def blanks_of(path):
    with open(path) as f:
        grid = json.load(f)["test"][0]["input"]
    if isinstance(grid, str):
        return sum(ch in ".0" for ch in grid)
    return sum(row.count(0) for row in grid)


def bands(report):
    out = defaultdict(lambda: {"n": 0, "exact": 0, "valid": 0, "steps": 0})
    for t in report["tasks"]:
        b = blanks_of(t["file"]) // 10 * 10
        row = out[b]
        row["n"] += 1
        row["exact"] += bool(t["model"]["exact"][0])
        row["valid"] += t.get("verified", [""])[0] == "valid"
        row["steps"] += t["cycles"][0]
    return out


def main(args):
    named = [a.split("=", 1) for a in args]
    tables = [(name, bands(json.load(open(path)))) for name, path in named]
    head = "| blanks | puzzles | " + " | ".join(f"{n}: exact | {n}: valid | {n}: mean steps" for n, _ in tables) + " |"
    print(head)
    print("|" + "---|" * (2 + 3 * len(tables)))
    for b in sorted(tables[0][1]):
        cells = [f"{b}-{b + 9}", str(tables[0][1][b]["n"])]
        for _, t in tables:
            r = t[b]
            cells += [f"{r['exact']}/{r['n']}", f"{r['valid']}/{r['n']}", f"{r['steps'] / r['n']:.1f}"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
