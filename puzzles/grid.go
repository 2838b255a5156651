package puzzles

import "fmt"

// MaxSide is the largest grid side the ARC format allows.
const MaxSide = 30

// Grid is a rectangle of colours 0-9, row by row.
type Grid [][]int

// Rows returns the number of rows.
func (g Grid) Rows() int { return len(g) }

// Cols returns the number of columns (0 for an empty grid).
func (g Grid) Cols() int {
	if len(g) == 0 {
		return 0
	}
	return len(g[0])
}

// Size is "rows x cols", the way ARC people write it.
func (g Grid) Size() string { return fmt.Sprintf("%dx%d", g.Rows(), g.Cols()) }

// Equal reports whether two grids have the same shape and cells.
func (g Grid) Equal(o Grid) bool {
	if len(g) != len(o) {
		return false
	}
	for r := range g {
		if len(g[r]) != len(o[r]) {
			return false
		}
		for c := range g[r] {
			if g[r][c] != o[r][c] {
				return false
			}
		}
	}
	return true
}

// NewGrid returns a rows x cols grid of zeros.
func NewGrid(rows, cols int) Grid {
	cells := make([]int, rows*cols)
	g := make(Grid, rows)
	for r := range g {
		g[r] = cells[r*cols : (r+1)*cols : (r+1)*cols]
	}
	return g
}

// CheckFits reports a grid_too_large error when g does not fit a model whose
// grid side is side. where names the grid (`test[0].input`).
func CheckFits(g Grid, side int, where string) error {
	if g.Rows() > side || g.Cols() > side {
		return errorf(CodeGridTooLarge, "%s is %s; the model's grid is %dx%d", where, g.Size(), side, side)
	}
	return nil
}
