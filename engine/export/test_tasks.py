"""Task and generator tests: /usr/bin/python3 -m unittest test_tasks (in engine/export)"""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import make_puzzles  # noqa: E402
import tasks  # noqa: E402

SUDOKU, MAZE = tasks.TASKS["sudoku"], tasks.TASKS["maze"]


def load(rel):
    with open(os.path.join(tasks.testdata_dir(), rel)) as f:
        return json.load(f)["test"][0]


def sudoku_valid(grid):
    units = [row for row in grid] + [[grid[r][c] for r in range(9)] for c in range(9)]
    units += [[grid[r][c] for r in range(br, br + 3) for c in range(bc, bc + 3)]
              for br in (0, 3, 6) for bc in (0, 3, 6)]
    return all(sorted(u) == list(range(1, 10)) for u in units)


class EncodingTest(unittest.TestCase):
    def test_sudoku_tokens_are_digits_plus_one(self):
        grid = load("sudoku/seed1-blanks24.json")["input"]
        tokens = tasks.encode(SUDOKU, grid)
        self.assertEqual(len(tokens), 81)
        self.assertEqual(tokens[:9], [d + 1 for d in grid[0]])
        self.assertIn(1, tokens, "a blank (digit 0) is token 1")
        self.assertEqual(tasks.decode(SUDOKU, tokens), grid)

    def test_maze_tokens_follow_the_charset(self):
        grid = load("maze/seed1.json")["output"]
        tokens = tasks.encode(MAZE, grid)
        chars = "".join(tasks.MAZE_CHARS[t - 1] for t in tokens)
        self.assertEqual((chars.count("S"), chars.count("G")), (1, 1))
        self.assertEqual(set(chars), set("# SGo"))
        self.assertEqual(tasks.decode(MAZE, tokens), grid)

    def test_a_pad_in_a_prediction_decodes_to_no_grid(self):
        for task in (SUDOKU, MAZE):
            tokens = [1] * task.seq_len
            tokens[5] = 0
            self.assertIsNone(tasks.decode(task, tokens), task.name)
            tokens[5] = task.vocab  # beyond the vocabulary
            self.assertIsNone(tasks.decode(task, tokens), task.name)

    def test_wrong_grids_are_refused(self):
        for task, grid, want in ((SUDOKU, [[0] * 9] * 8, "9x9"), (SUDOKU, [[10] * 9] * 9, "outside 0..9"),
                                 (MAZE, [[5] * 30] * 30, "outside 0..4")):
            with self.subTest(want), self.assertRaises(ValueError) as cm:
                tasks.encode(task, grid)
            self.assertIn(want, str(cm.exception))


class GeneratorTest(unittest.TestCase):
    def test_sudokus_are_valid_and_unique(self):
        for rel, _ in SUDOKU.files:
            with self.subTest(rel):
                t = load(rel)
                self.assertTrue(sudoku_valid(t["output"]))
                for r in range(9):
                    for c in range(9):
                        self.assertIn(t["input"][r][c], (0, t["output"][r][c]))
                self.assertEqual(make_puzzles.sudoku_count([row[:] for row in t["input"]]), 1)
                self.assertEqual(sum(row.count(0) for row in t["input"]), int(rel.split("blanks")[1][:-5]))

    def test_maze_paths_are_shortest_and_connected(self):
        for rel, _ in MAZE.files:
            with self.subTest(rel):
                t = load(rel)
                maze, solved = t["input"], t["output"]
                cells = {v: [(r, c) for r in range(30) for c in range(30) if maze[r][c] == v] for v in range(5)}
                self.assertEqual((len(cells[tasks.START]), len(cells[tasks.GOAL]), len(cells[tasks.PATH])), (1, 1, 0))
                path = {(r, c) for r in range(30) for c in range(30) if solved[r][c] == tasks.PATH}
                for r, c in path:
                    self.assertEqual(maze[r][c], tasks.OPEN, (r, c))
                self.assertEqual([(r, c) for r in range(30) for c in range(30)
                                  if solved[r][c] != maze[r][c] and (r, c) not in path], [])
                prev = make_puzzles.bfs(maze, cells[tasks.START][0])
                self.assertEqual(len(path) + 1, make_puzzles.distance(prev, cells[tasks.GOAL][0]))
                # Connected: start to goal through path cells only.
                only_path = [[tasks.OPEN if (r, c) in path or maze[r][c] in (tasks.START, tasks.GOAL)
                              else tasks.WALL for c in range(30)] for r in range(30)]
                self.assertIn(cells[tasks.GOAL][0], make_puzzles.bfs(only_path, cells[tasks.START][0]))

    def test_committed_puzzles_are_the_generator_s(self):
        cases = [(f"sudoku/seed{s}-blanks{b}.json", ["sudoku", "--seed", str(s), "--blanks", str(b)])
                 for s, b in ((1, 24), (2, 40), (3, 52), (4, 57))]
        cases += [(f"maze/seed{s}.json", ["maze", "--seed", str(s)]) for s in (1, 2, 3)]
        self.assertEqual(sorted(rel for rel, _ in cases), sorted(rel for rel, _ in SUDOKU.files + MAZE.files))
        with tempfile.TemporaryDirectory() as d:
            for rel, argv in cases:
                with self.subTest(rel):
                    out = os.path.join(d, "task.json")
                    with contextlib.redirect_stdout(io.StringIO()):
                        make_puzzles.main(argv + ["--out", out])
                    with open(out, "rb") as f, open(os.path.join(tasks.testdata_dir(), rel), "rb") as g:
                        self.assertEqual(f.read(), g.read())


if __name__ == "__main__":
    unittest.main()
