package puzzles

import "math/rand/v2"

// SampleGrids are n made-up puzzles that a model of encoding e takes, the
// same ones for the same seed: for the grids that load, the doctor, bench
// and the input probe run through a model. A Sudoku is a solved one
// shuffled as SudokuAugmentations does, half its cells blank; a maze is
// walls and open cells at random with one S and one G (solvable or not).
// nil for the ARC encodings, whose callers choose their own grids.
func (e Encoding) SampleGrids(n int, seed uint64) []Grid {
	if !e.Fixed() {
		return nil
	}
	r := rand.New(rand.NewPCG(seed, 0x73616d70)) // "samp"
	grids := make([]Grid, n)
	for i := range grids {
		if e == EncodingSudoku {
			grids[i] = sampleSudoku(r)
		} else {
			grids[i] = sampleMaze(r)
		}
	}
	return grids
}

// StepGrid is one grid a model of encoding e takes, for a run whose
// answer nobody reads (the warm-up, the doctor's step): a 2x2 ARC grid,
// or a Sudoku or maze model's own made-up puzzle.
func (e Encoding) StepGrid() Grid {
	if sample := e.SampleGrids(1, 1); sample != nil {
		return sample[0]
	}
	return Grid{{0, 1}, {2, 3}}
}

func sampleSudoku(r *rand.Rand) Grid {
	solved := NewGrid(SudokuSide, SudokuSide)
	for row := range solved {
		for c := range solved[row] {
			solved[row][c] = (row*3+row/3+c)%9 + 1 // every row, column and box whole
		}
	}
	augs := SudokuAugmentations(1 + r.IntN(MaxAugmentations))
	g := augs[len(augs)-1].Apply(solved)
	for _, row := range g {
		for c := range row {
			if r.IntN(2) == 0 {
				row[c] = 0
			}
		}
	}
	return g
}

func sampleMaze(r *rand.Rand) Grid {
	g := NewGrid(MazeSide, MazeSide)
	for _, row := range g {
		for c := range row {
			if r.IntN(10) >= 3 {
				row[c] = MazeOpen
			}
		}
	}
	cells := r.Perm(MazeSide * MazeSide)
	g[cells[0]/MazeSide][cells[0]%MazeSide] = MazeStart
	g[cells[1]/MazeSide][cells[1]%MazeSide] = MazeGoal
	return g
}
