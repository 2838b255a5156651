"""Sudoku puzzles of our own: solved grids by randomized backtracking, sapient's
augmentation (dataset/build_sudoku_dataset.py's shuffle_sudoku, described there as: a
digit permutation with 0 kept, the bands shuffled and the rows within each band, the
stacks and the columns within each, and a transpose half the time), blanks removed at
random, and the checks an answer must pass without its key.

Grids are 9x9 lists (or numpy arrays) of digits, 0 for a blank. Everything draws from a
random.Random passed in, so a seed fixes every puzzle.
"""

import numpy as np

SIDE = 9
CELLS = SIDE * SIDE
ALL_DIGITS = (1 << 10) - 2  # bits 1..9


def box_of(r, c):
    return (r // 3) * 3 + c // 3


def solved_grid(rng):
    """A uniformly shuffled search for a complete valid grid: every empty cell is tried
    with its candidates in random order, the cell with fewest candidates first."""
    grid = [[0] * SIDE for _ in range(SIDE)]
    rows, cols, boxes = [0] * SIDE, [0] * SIDE, [0] * SIDE

    def fill():
        best, best_cands = None, None
        for r in range(SIDE):
            for c in range(SIDE):
                if grid[r][c]:
                    continue
                cands = ALL_DIGITS & ~(rows[r] | cols[c] | boxes[box_of(r, c)])
                if best is None or bin(cands).count("1") < bin(best_cands).count("1"):
                    best, best_cands = (r, c), cands
        if best is None:
            return True
        r, c = best
        digits = [d for d in range(1, 10) if best_cands >> d & 1]
        rng.shuffle(digits)
        for d in digits:
            bit = 1 << d
            grid[r][c] = d
            rows[r] |= bit
            cols[c] |= bit
            boxes[box_of(r, c)] |= bit
            if fill():
                return True
            rows[r] &= ~bit
            cols[c] &= ~bit
            boxes[box_of(r, c)] &= ~bit
        grid[r][c] = 0
        return False

    fill()
    return grid


def shuffle_pair(board, solution, rng):
    """sapient's augmentation, applied alike to the puzzle and its solution."""
    digit_map = np.array([0] + rng.sample(range(1, 10), 9))
    transpose = rng.random() < 0.5
    bands, stacks = rng.sample(range(3), 3), rng.sample(range(3), 3)
    row_perm = [b * 3 + r for b in bands for r in rng.sample(range(3), 3)]
    col_perm = [s * 3 + c for s in stacks for c in rng.sample(range(3), 3)]

    def apply(x):
        x = np.asarray(x)
        if transpose:
            x = x.T
        return digit_map[x[row_perm][:, col_perm]]

    return apply(board), apply(solution)


def blank_out(solution, blanks, rng):
    """The solution with `blanks` cells, chosen at random, set to 0."""
    board = np.array(solution).copy()
    for i in rng.sample(range(CELLS), blanks):
        board[i // SIDE, i % SIDE] = 0
    return board


def violation(board, answer):
    """None when answer is a complete valid Sudoku keeping every given of board, else
    the first thing wrong, in words."""
    answer = np.asarray(answer)
    board = np.asarray(board)
    for r in range(SIDE):
        for c in range(SIDE):
            if board[r, c] and answer[r, c] != board[r, c]:
                return f"given {board[r, c]} at row {r + 1} column {c + 1} changed to {answer[r, c]}"
            if not 1 <= answer[r, c] <= 9:
                return f"row {r + 1} column {c + 1} holds {answer[r, c]}, not a digit 1-9"
    units = [("row", i, answer[i, :]) for i in range(SIDE)] + [("column", i, answer[:, i]) for i in range(SIDE)]
    units += [("box", b, answer[b // 3 * 3:b // 3 * 3 + 3, b % 3 * 3:b % 3 * 3 + 3].ravel()) for b in range(SIDE)]
    for kind, i, cells in units:
        seen = set()
        for d in cells:
            if d in seen:
                return f"{kind} {i + 1} holds {d} twice"
            seen.add(d)
    return None
