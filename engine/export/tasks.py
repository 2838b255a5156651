"""The tasks an act-v1 model is trained on, as sapient's dataset builders define them
(dataset/build_arc_dataset.py, build_sudoku_dataset.py, build_maze_dataset.py): each
task's sequence length, vocabulary and hrm.yaml encoding, its tokens, and the real
inputs of its check set.

The Go side (puzzles package) implements the same encodings; the check set carries
both the grids and these tokens so the two are checked against each other.
"""

import json
import os

import arc


class Task:
    def __init__(self, name, seq_len, vocab, encoding, files):
        self.name, self.seq_len, self.vocab, self.encoding = name, seq_len, vocab, encoding
        self.side = int(round(seq_len ** 0.5))
        # The check set's inputs: (path under the repository's testdata/, test index).
        self.files = files


# Sudoku: PAD 0, digit d -> d + 1, the blank being digit 0. Maze: PAD 0, then "# SGo"
# -> 1..5; a maze grid is ints 0..4 in that order (wall, open, start, goal, path).
TASKS = {
    "arc": Task("arc", 900, 12, "arc-eos", ()),
    "sudoku": Task("sudoku", 81, 11, "sudoku", (
        ("sudoku/seed1-blanks24.json", 0),
        ("sudoku/seed2-blanks40.json", 0),
        ("sudoku/seed3-blanks52.json", 0),
        ("sudoku/seed4-blanks57.json", 0),
    )),
    "maze": Task("maze", 900, 6, "maze", (
        ("maze/seed1.json", 0),
        ("maze/seed2.json", 0),
        ("maze/seed3.json", 0),
    )),
}
MAZE_CHARS = "# SGo"
WALL, OPEN, START, GOAL, PATH = range(5)
# Both encodings shift each value by one past PAD (token 0).
VALUE0 = 1


def testdata_dir():
    """The repository's testdata/ (ARC tasks, generated Sudokus and mazes)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "testdata"))


def encode(task, grid):
    """A grid's tokens for the task's encoding."""
    if task.encoding == "arc-eos":
        return arc.encode_arc_eos(grid, task.side)
    if len(grid) != task.side or any(len(row) != task.side for row in grid):
        raise ValueError(f"a {task.name} grid is {task.side}x{task.side}, not {len(grid)}x{len(grid[0])}")
    top = task.vocab - VALUE0 - 1
    tokens = []
    for row in grid:
        for v in row:
            if not 0 <= v <= top:
                raise ValueError(f"{task.name} value {v} is outside 0..{top}")
            tokens.append(v + VALUE0)
    return tokens


def decode(task, tokens):
    """A prediction as a grid; None (no grid) for a Sudoku or maze with a PAD token in it."""
    if task.encoding == "arc-eos":
        return arc.decode_arc_eos(tokens, task.side)
    if any(t < VALUE0 or t >= task.vocab for t in tokens):
        return None
    return [[t - VALUE0 for t in tokens[r * task.side:(r + 1) * task.side]] for r in range(task.side)]


def check_inputs(task, count=None):
    """The check set's inputs for a Sudoku or maze task: [(source, grid)]."""
    out = []
    for rel, index in task.files[:count]:
        path = os.path.join(testdata_dir(), rel)
        with open(path) as f:
            grid = json.load(f)["test"][index]["input"]
        out.append((f"testdata/{rel} test[{index}].input", grid))
    return out
