package puzzles

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// Augmentation is one test-time variant of a task: a symmetry of the square
// (one of the 8 dihedral transforms) and a permutation of the colours 1-9
// (0, the background, stays 0). A model that has learnt a rule answers each
// variant with the same answer, transformed; voting over the variants'
// answers, mapped back, then outvotes the variants it got wrong.
type Augmentation struct {
	// Dihedral is 0 identity, 1-3 rotations by 90°, 180°, 270° clockwise,
	// 4 mirror left-right, 5 mirror top-bottom, 6 transpose, 7 anti-transpose.
	Dihedral int
	Colours  [10]int // colour c becomes Colours[c]; Colours[0] == 0
	// Rows and Cols, when set, shuffle a Sudoku's rows and columns after
	// the geometry: the result's row r is the transformed grid's row
	// Rows[r] (SudokuAugmentations). nil leaves them in place.
	Rows, Cols []int
}

// Identity is the augmentation that changes nothing.
func Identity() Augmentation {
	return Augmentation{Colours: [10]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}
}

// MaxAugmentations is the most variants inference.augmentations allows: every
// dihedral transform twice, each time with another colour permutation.
const MaxAugmentations = 15

// Augmentations lists the identity and then n variants. Variants 1-7 are the
// other symmetries of the square, colours untouched: a rule about shapes
// holds in every orientation. From variant 8 on, each symmetry comes again
// with a permutation of the colours 1-9, drawn from a generator seeded with
// the variant's number (the same list on every run and machine): that only
// helps a model trained to ignore which colour is which, as the reference
// HRM was, and hurts one whose rule names colours.
func Augmentations(n int) []Augmentation {
	out := []Augmentation{Identity()}
	for i := 1; i <= n; i++ {
		a := Identity()
		a.Dihedral = i % 8
		if i >= 8 {
			r := rand.New(rand.NewPCG(uint64(i), 0x68726d64)) // "hrmd"
			perm := r.Perm(9)
			for c := 1; c <= 9; c++ {
				a.Colours[c] = perm[c-1] + 1
			}
		}
		out = append(out, a)
	}
	return out
}

// SudokuAugmentations lists the identity and then n variants of a Sudoku,
// each as sapient's build_sudoku_dataset.py (shuffle_sudoku) draws one:
// a permutation of the digits 1-9 (0, the blank, stays 0), a transpose half
// the time, the three bands shuffled and the three rows within each band,
// the three stacks and the three columns within each. Every one keeps a
// Sudoku a Sudoku, with the same solution transformed alike. Variant i is
// drawn from a generator seeded with i: the same list on every run.
func SudokuAugmentations(n int) []Augmentation {
	out := []Augmentation{Identity()}
	for i := 1; i <= n; i++ {
		r := rand.New(rand.NewPCG(uint64(i), 0x7375646f)) // "sudo"
		a := Identity()
		for d, to := range r.Perm(9) {
			a.Colours[d+1] = to + 1
		}
		if r.IntN(2) == 1 {
			a.Dihedral = 6 // transpose
		}
		a.Rows, a.Cols = bandShuffle(r), bandShuffle(r)
		out = append(out, a)
	}
	return out
}

// bandShuffle is a permutation of a Sudoku's 9 rows (or columns) that keeps
// its bands (stacks) whole: the bands in a random order, each band's rows
// in a random order.
func bandShuffle(r *rand.Rand) []int {
	perm := make([]int, 0, SudokuSide)
	for _, band := range r.Perm(3) {
		for _, row := range r.Perm(3) {
			perm = append(perm, band*3+row)
		}
	}
	return perm
}

// Augmentations are the test-time variants of encoding e: ARC's
// (Augmentations), a Sudoku's own (SudokuAugmentations), and none for a
// maze (sapient's published maze recipe trains without its dihedral
// augmentation, so a turned maze is out of the model's distribution).
func (e Encoding) Augmentations(n int) []Augmentation {
	switch e {
	case EncodingSudoku:
		return SudokuAugmentations(n)
	case EncodingMaze:
		return []Augmentation{Identity()}
	}
	return Augmentations(n)
}

// String names the variant for traces and errors: "rot90+colours[0,3,1,...]",
// and a Sudoku variant's row and column shuffles after it.
func (a Augmentation) String() string {
	names := [...]string{"identity", "rot90", "rot180", "rot270", "mirror-lr", "mirror-tb", "transpose", "anti-transpose"}
	s := fmt.Sprintf("%s+colours%v", names[a.Dihedral], a.Colours)
	if a.Rows != nil {
		s += fmt.Sprintf("+rows%v+cols%v", a.Rows, a.Cols)
	}
	return s
}

// Apply transforms g: the colours, then the geometry, then the row and
// column shuffles.
func (a Augmentation) Apply(g Grid) Grid {
	return shuffle(dihedral(recolour(g, a.Colours), a.Dihedral), a.Rows, a.Cols, false)
}

// Invert maps a grid of the variant back to the original task: the shuffles
// undone, the inverse geometry, then the inverse colours, so
// Invert(Apply(g)) == g.
func (a Augmentation) Invert(g Grid) Grid {
	var inverse [10]int
	for c, to := range a.Colours {
		inverse[to] = c
	}
	return recolour(dihedral(shuffle(g, a.Rows, a.Cols, true), inverseDihedral(a.Dihedral)), inverse)
}

// shuffle moves g's rows and columns: the result's (r, c) is g's (rows[r],
// cols[c]), or with invert the other way round. nil permutations, or a grid
// of another size than they are for (an answer of no grid), leave g as it is.
func shuffle(g Grid, rows, cols []int, invert bool) Grid {
	if rows == nil || g.Rows() != len(rows) || g.Cols() != len(cols) {
		return g
	}
	out := NewGrid(g.Rows(), g.Cols())
	for r := range out {
		for c := range out[r] {
			if invert {
				out[rows[r]][cols[c]] = g[r][c]
			} else {
				out[r][c] = g[rows[r]][cols[c]]
			}
		}
	}
	return out
}

// ApplyTask transforms every grid of a task (the raw encoding's shape rules
// read the demonstrations, which must then be in the variant's frame too).
func (a Augmentation) ApplyTask(t Task) Task {
	out := Task{ID: t.ID, Name: t.Name}
	for _, p := range t.Train {
		out.Train = append(out.Train, Pair{Input: a.Apply(p.Input), Output: applyOrNil(a, p.Output)})
	}
	for _, p := range t.Test {
		out.Test = append(out.Test, Pair{Input: a.Apply(p.Input), Output: applyOrNil(a, p.Output)})
	}
	return out
}

func applyOrNil(a Augmentation, g Grid) Grid {
	if g == nil {
		return nil
	}
	return a.Apply(g)
}

func inverseDihedral(d int) int {
	switch d {
	case 1:
		return 3
	case 3:
		return 1
	}
	return d // the half turn, the mirrors and the transposes undo themselves
}

func recolour(g Grid, to [10]int) Grid {
	out := make(Grid, len(g))
	for r, row := range g {
		out[r] = make([]int, len(row))
		for c, v := range row {
			out[r][c] = to[v]
		}
	}
	return out
}

// dihedral applies transform d to g; (r, c) is a cell of the result.
func dihedral(g Grid, d int) Grid {
	rows, cols := g.Rows(), g.Cols()
	if rows == 0 {
		return Grid{}
	}
	outRows, outCols := rows, cols
	if d == 1 || d == 3 || d == 6 || d == 7 {
		outRows, outCols = cols, rows
	}
	out := make(Grid, outRows)
	for r := range out {
		out[r] = make([]int, outCols)
		for c := range out[r] {
			var sr, sc int // the source cell
			switch d {
			case 0:
				sr, sc = r, c
			case 1: // clockwise: the result's row r is the source's column r, bottom to top
				sr, sc = rows-1-c, r
			case 2:
				sr, sc = rows-1-r, cols-1-c
			case 3:
				sr, sc = c, cols-1-r
			case 4:
				sr, sc = r, cols-1-c
			case 5:
				sr, sc = rows-1-r, c
			case 6:
				sr, sc = c, r
			case 7:
				sr, sc = rows-1-c, cols-1-r
			}
			out[r][c] = g[sr][sc]
		}
	}
	return out
}

// Candidate is one distinct answer of a vote.
type Candidate struct {
	Grid     Grid
	Votes    int
	MeanHalt float64
}

// Vote groups the variants' answers (already mapped back) by grid and ranks
// them: most votes first, ties to the higher mean halt signal (the reference
// HRM evaluation's rule), then to the answer seen first, so the order is
// deterministic. Variants without a grid do not vote.
func Vote(grids []Grid, halts []float64) []Candidate {
	var cands []Candidate
	var sums []float64
	for i, g := range grids {
		if g.Rows() == 0 {
			continue
		}
		j := slices.IndexFunc(cands, func(c Candidate) bool { return c.Grid.Equal(g) })
		if j < 0 {
			cands, sums = append(cands, Candidate{Grid: g}), append(sums, 0)
			j = len(cands) - 1
		}
		cands[j].Votes++
		sums[j] += halts[i]
	}
	for j := range cands {
		cands[j].MeanHalt = sums[j] / float64(cands[j].Votes)
	}
	slices.SortStableFunc(cands, func(a, b Candidate) int {
		if a.Votes != b.Votes {
			return b.Votes - a.Votes
		}
		switch {
		case a.MeanHalt > b.MeanHalt:
			return -1
		case a.MeanHalt < b.MeanHalt:
			return 1
		}
		return 0
	})
	return cands
}
