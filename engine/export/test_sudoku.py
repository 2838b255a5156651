"""sudoku.py and train_sudoku.py: /usr/bin/python3 -m unittest test_sudoku (in engine/export)"""

import os
import random
import sys
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sudoku  # noqa: E402
import train_sudoku  # noqa: E402


class SudokuTest(unittest.TestCase):
    def test_solved_grids_and_shuffles_stay_sudokus(self):
        rng = random.Random(3)
        for _ in range(20):
            solution = sudoku.solved_grid(rng)
            board = sudoku.blank_out(solution, rng.randint(1, 60), rng)
            board, shuffled = sudoku.shuffle_pair(board, solution, rng)
            self.assertIsNone(sudoku.violation(board, shuffled))
            kept = board != 0
            self.assertTrue((board[kept] == shuffled[kept]).all(), "a given moved away from its solution's digit")

    def test_violations_name_the_first_rule_broken(self):
        solution = np.array(sudoku.solved_grid(random.Random(5)))
        board = sudoku.blank_out(solution, 30, random.Random(6))
        given = tuple(np.argwhere(board != 0)[0])
        changed = solution.copy()
        changed[given] = changed[given] % 9 + 1
        swapped = solution.copy()
        swapped[0, [0, 1]] = swapped[0, [1, 0]]  # row 0 stays whole; its columns 0 and 1 now repeat
        blank = solution.copy()
        blank[4, 4] = 0
        cases = [(changed, f"given {solution[given]} at row {given[0] + 1}"), (blank, "row 5 column 5 holds 0"),
                 (swapped, "column 1 holds")]
        for answer, want in cases:
            givens = np.zeros_like(board) if answer is swapped else board
            self.assertIn(want, sudoku.violation(givens, answer))

    def test_training_batch_is_sapients_encoding(self):
        puzzles = train_sudoku.Puzzles(1, (1, 20), base_grids=20)
        tokens, labels = puzzles.draw(16)
        self.assertEqual(tuple(tokens.shape), (16, 81))
        given = tokens != 1  # token 1 is the blank (digit 0 + 1)
        self.assertTrue(torch.equal(tokens[given], labels[given]))
        self.assertTrue(bool(((labels >= 2) & (labels <= 10)).all()))


if __name__ == "__main__":
    unittest.main()
