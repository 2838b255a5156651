"""The demo family "halo": every red cell gets a blue ring on the black cells around it.

The rule of ARC-AGI-1 training/dc1df850: each red (2) cell paints its eight
neighbours blue (1) where they are black (0); every other cell keeps its colour.
Grids are 3..15 rows by 3..15 columns, black with red cells and cells of other
colours (3-9) that must be left alone. Nova sees only a task's test input, so a
family it can learn has to be one fixed rule like this. The sides stop at 15
because nova's positions are absolute: every position a grid can reach must be
trained, and 2 CPU cores cover 15x15 in the half hour the demo's training may
take, not 30x30.

The Go side has its own implementation of the rule (daemon/demo_test.go) that
checks the trained bundle on freshly generated grids.
"""

import argparse
import json
import os
import random
import sys

RED, BLUE, BLACK = 2, 1, 0
OTHERS = (3, 4, 5, 6, 7, 8, 9)
MIN_SIDE, MAX_SIDE = 3, 15


def rng(seed):
    return random.Random(seed)


def apply(grid):
    h, w = len(grid), len(grid[0])
    out = [row[:] for row in grid]
    for r in range(h):
        for c in range(w):
            if grid[r][c] != RED:
                continue
            for rr in range(max(0, r - 1), min(h, r + 2)):
                for cc in range(max(0, c - 1), min(w, c + 2)):
                    if grid[rr][cc] == BLACK:
                        out[rr][cc] = BLUE
    return out


def random_input(rng, h=None, w=None):
    """A black grid with a few red cells (at least one) and some other colours."""
    h = h or rng.randint(MIN_SIDE, MAX_SIDE)
    w = w or rng.randint(MIN_SIDE, MAX_SIDE)
    red = rng.uniform(0.01, 0.06)
    other = rng.uniform(0.0, 0.08)
    grid = [[BLACK] * w for _ in range(h)]
    for r in range(h):
        for c in range(w):
            x = rng.random()
            if x < red:
                grid[r][c] = RED
            elif x < red + other:
                grid[r][c] = rng.choice(OTHERS)
    if not any(RED in row for row in grid):
        grid[rng.randrange(h)][rng.randrange(w)] = RED
    return grid


def random_task(rng, demos=3, test_size=(None, None)):
    """An ARC task of the family: demo pairs and one test pair with its output."""
    pairs = []
    for i in range(demos + 1):
        g = random_input(rng, *(test_size if i == demos else (None, None)))
        pairs.append({"input": g, "output": apply(g)})
    return {"train": pairs[:demos], "test": pairs[demos:]}


def dumps_task(task):
    """JSON with one grid row per line, so a person can read the file."""
    def grid(g, indent):
        rows = ",\n".join(indent + "  " + json.dumps(r, separators=(",", ":")) for r in g)
        return "[\n" + rows + "\n" + indent + "]"

    def pairs(ps):
        items = []
        for p in ps:
            items.append('    {"input": ' + grid(p["input"], "    ") + ',\n     "output": ' + grid(p["output"], "    ") + "}")
        return "[\n" + ",\n".join(items) + "\n  ]"

    return '{"train": ' + pairs(task["train"]) + ',\n "test": ' + pairs(task["test"]) + "}\n"


# The committed examples (puzzles/examples): test inputs from small to the family's largest.
EXAMPLE_SIZES = ((6, 9), (11, 14), (15, 8), (15, 15))


def main(argv=None):
    p = argparse.ArgumentParser(description="Write example puzzles of the halo family.")
    p.add_argument("--out", required=True, help="folder for halo-N.json")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    r = rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    for i, size in enumerate(EXAMPLE_SIZES, 1):
        path = os.path.join(args.out, f"halo-{i}.json")
        with open(path, "w") as f:
            f.write(dumps_task(random_task(r, test_size=size)))
        print(f"wrote {path}: test input {size[0]}x{size[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
