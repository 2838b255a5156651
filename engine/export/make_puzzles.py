#!/usr/bin/python3
"""Seeded Sudoku and maze puzzles, written as task files in the ARC JSON shape
({"test": [{"input": grid, "output": grid}]}), with their solutions:

    /usr/bin/python3 engine/export/make_puzzles.py sudoku --seed 1 --blanks 40 --out FILE
    /usr/bin/python3 engine/export/make_puzzles.py maze --seed 1 --out FILE
    /usr/bin/python3 engine/export/make_puzzles.py sudoku-set --seed 100000 --count 200 --out DIR

sudoku-set writes --count Sudokus into DIR, seeds --seed, --seed + 1, ..., with 10 to 59
blanks in turn (fewer where no more can go), each file named by its blanks and seed
(b27-s100017.json): the held-out set our trained Sudoku model is measured on.

Sudoku: a full grid filled by randomized backtracking, then cells blanked (digit 0)
in random order, each kept blank only if the puzzle still has one solution, until
--blanks are blank (fewer when no more can go). Maze: 30x30 as sapient's Maze-Hard
(build_maze_dataset.py): a corridor maze carved by a randomized depth-first search,
some walls knocked through so that it has loops, one start and one goal far apart;
its output marks a shortest path (breadth-first) between them. Values 0..4 are wall,
open, start, goal, path ("# SGo").

Only Python's random module, seeded: the same seed writes the same file.
"""

import argparse
import collections
import json
import os
import random
import sys

import tasks

MAZE_SIDE = 30
# sudoku-set: the blanks its puzzles go through in turn.
SET_BLANKS = (10, 59)
# The share of the carved maze's inner walls knocked through, for loops.
MAZE_LOOPS = 0.08
# Start and goal: the farthest apart of this many random pairs of open cells.
MAZE_PAIRS = 200


def sudoku_candidates(grid, r, c):
    used = set(grid[r]) | {grid[i][c] for i in range(9)}
    br, bc = r - r % 3, c - c % 3
    used |= {grid[i][j] for i in range(br, br + 3) for j in range(bc, bc + 3)}
    return [d for d in range(1, 10) if d not in used]


def sudoku_fill(grid, rng):
    """Fill the blanks of grid in place by randomized backtracking; False if it has no solution."""
    cell = next(((r, c) for r in range(9) for c in range(9) if grid[r][c] == 0), None)
    if cell is None:
        return True
    r, c = cell
    digits = sudoku_candidates(grid, r, c)
    rng.shuffle(digits)
    for d in digits:
        grid[r][c] = d
        if sudoku_fill(grid, rng):
            return True
    grid[r][c] = 0
    return False


def sudoku_count(grid, limit=2):
    """How many solutions grid has, counting no further than limit (fewest candidates first)."""
    best = None
    for r in range(9):
        for c in range(9):
            if grid[r][c] == 0:
                cand = sudoku_candidates(grid, r, c)
                if best is None or len(cand) < len(best[2]):
                    best = (r, c, cand)
    if best is None:
        return 1
    r, c, cand = best
    count = 0
    for d in cand:
        grid[r][c] = d
        count += sudoku_count(grid, limit - count)
        if count >= limit:
            break
    grid[r][c] = 0
    return count


def sudoku(seed, blanks):
    """(puzzle, solution): 9x9 digits, 0 for a blank; the puzzle has one solution."""
    rng = random.Random(seed)
    solution = [[0] * 9 for _ in range(9)]
    sudoku_fill(solution, rng)
    puzzle = [row[:] for row in solution]
    cells = [(r, c) for r in range(9) for c in range(9)]
    rng.shuffle(cells)
    blank = 0
    for r, c in cells:
        if blank == blanks:
            break
        puzzle[r][c] = 0
        if sudoku_count([row[:] for row in puzzle]) == 1:
            blank += 1
        else:
            puzzle[r][c] = solution[r][c]
    return puzzle, solution


def neighbours(r, c, side):
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        if 0 <= r + dr < side and 0 <= c + dc < side:
            yield r + dr, c + dc


def maze_carve(side, rng):
    """Open cells at even coordinates joined by a randomized depth-first search; walls elsewhere."""
    grid = [[tasks.WALL] * side for _ in range(side)]
    cells = (side + 1) // 2
    start = (2 * rng.randrange(cells), 2 * rng.randrange(cells))
    grid[start[0]][start[1]] = tasks.OPEN
    stack = [start]
    while stack:
        r, c = stack[-1]
        nxt = [(r + dr, c + dc) for dr, dc in ((-2, 0), (2, 0), (0, -2), (0, 2))
               if 0 <= r + dr < side and 0 <= c + dc < side and grid[r + dr][c + dc] == tasks.WALL]
        if not nxt:
            stack.pop()
            continue
        nr, nc = rng.choice(nxt)
        grid[(r + nr) // 2][(c + nc) // 2] = tasks.OPEN
        grid[nr][nc] = tasks.OPEN
        stack.append((nr, nc))
    return grid


def maze_loops(grid, rng):
    """Knock through some walls that part two open cells in a line, so that paths can differ."""
    side = len(grid)
    walls = [(r, c) for r in range(side) for c in range(side) if grid[r][c] == tasks.WALL and (
        (0 < r < side - 1 and grid[r - 1][c] == tasks.OPEN and grid[r + 1][c] == tasks.OPEN) or
        (0 < c < side - 1 and grid[r][c - 1] == tasks.OPEN and grid[r][c + 1] == tasks.OPEN))]
    for r, c in rng.sample(walls, int(len(walls) * MAZE_LOOPS)):
        grid[r][c] = tasks.OPEN


def bfs(grid, start):
    """Each reachable cell's predecessor on a shortest path from start (start's own is None)."""
    side = len(grid)
    prev, queue = {start: None}, collections.deque([start])
    while queue:
        cell = queue.popleft()
        for n in neighbours(*cell, side):
            if n not in prev and grid[n[0]][n[1]] != tasks.WALL:
                prev[n] = cell
                queue.append(n)
    return prev


def distance(prev, cell):
    d = 0
    while prev[cell] is not None:
        cell, d = prev[cell], d + 1
    return d


def maze(seed, side=MAZE_SIDE):
    """(maze, solved): ints 0..4; solved marks one shortest path from start to goal."""
    rng = random.Random(seed)
    grid = maze_carve(side, rng)
    # The last row and column (side even) are wall after carving: open some, as dead ends.
    for i in range(side):
        if grid[side - 2][i] == tasks.OPEN and rng.random() < 0.5:
            grid[side - 1][i] = tasks.OPEN
        if grid[i][side - 2] == tasks.OPEN and rng.random() < 0.5:
            grid[i][side - 1] = tasks.OPEN
    maze_loops(grid, rng)
    open_cells = [(r, c) for r in range(side) for c in range(side) if grid[r][c] == tasks.OPEN]
    best = None
    for _ in range(MAZE_PAIRS):
        s, g = rng.sample(open_cells, 2)
        d = distance(bfs(grid, s), g)
        if best is None or d > best[0]:
            best = (d, s, g)
    _, s, g = best
    grid[s[0]][s[1]], grid[g[0]][g[1]] = tasks.START, tasks.GOAL
    solved = [row[:] for row in grid]
    prev = bfs(grid, s)
    cell = prev[g]
    while cell != s:
        solved[cell[0]][cell[1]] = tasks.PATH
        cell = prev[cell]
    return grid, solved


def grid_json(grid, indent):
    rows = (",\n" + indent).join(json.dumps(row, separators=(",", ":")) for row in grid)
    return "[\n" + indent + rows + "]"


def task_file(puzzle, solution, path):
    """One grid row a line, to be read by eye."""
    pad = " " * 6
    with open(path, "w") as f:
        f.write('{"test": [{\n  "input": ' + grid_json(puzzle, pad) + ',\n  "output": ' +
                grid_json(solution, pad) + "\n}]}\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=("sudoku", "maze", "sudoku-set"))
    p.add_argument("--count", type=int, default=200, help="sudoku-set: how many puzzles (default 200)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--blanks", type=int, default=40, help="sudoku: how many cells to blank (default 40)")
    p.add_argument("--out", required=True, help="the task file to write (sudoku-set: the folder)")
    args = p.parse_args(argv)
    if args.kind == "sudoku-set":
        os.makedirs(args.out, exist_ok=True)
        for i in range(args.count):
            puzzle, solution = sudoku(args.seed + i, SET_BLANKS[0] + i % (SET_BLANKS[1] - SET_BLANKS[0] + 1))
            blank = sum(row.count(0) for row in puzzle)
            task_file(puzzle, solution, os.path.join(args.out, f"b{blank:02d}-s{args.seed + i}.json"))
        print(f"wrote {args.out}: {args.count} Sudokus, seeds {args.seed}-{args.seed + args.count - 1}")
        return 0
    if args.kind == "sudoku":
        if not 0 <= args.blanks <= 81:
            p.error("--blanks is 0 to 81")
        puzzle, solution = sudoku(args.seed, args.blanks)
        blank = sum(row.count(0) for row in puzzle)
        print(f"wrote {args.out}: sudoku, seed {args.seed}, {blank} blanks")
    else:
        puzzle, solution = maze(args.seed)
        steps = sum(row.count(tasks.PATH) for row in solution) + 1
        print(f"wrote {args.out}: maze {MAZE_SIDE}x{MAZE_SIDE}, seed {args.seed}, shortest path {steps} steps")
    task_file(puzzle, solution, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
