package engine

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/hrmd/hrmd/puzzles"
)

// ProbeCount is how many grids the input-invariance probe runs.
const ProbeCount = 4

// ProbeCycles is how many cycles the probe runs each grid (fewer if the
// manifest's max_cycles is less), whatever halting the answers use (a
// full-size act-v1 under halting fixed would run 16 a grid). A model that
// ignores its input has nothing that could make one cycle's prediction
// differ between the grids, at the first cycles as at the last; and the
// models it is for were trained so: sapient's ACT loss and the demo's
// training (train_demo.py) hold every cycle's prediction to the answer, so
// one that learnt zeros (or one grid) for any input predicts them from its
// first cycle. A model is called invariant only if all its cycles agree
// (sameAnswers).
const ProbeCycles = 2

// ProbeGrids are the grids the input-invariance probe runs for a model of
// grid side: four ARC-like grids (black, with a few coloured rectangles) of
// one size, side x side up to 9x9, so that they differ only in what they show.
// A model that gives them all one answer ignores what its input shows,
// whether it answers one constant grid or zeros in the input's frame (the
// all-zeros "71%" checkpoint). They are fixed: the probe is repeatable.
func ProbeGrids(side int) []puzzles.Grid {
	n := min(side, 9)
	r := rand.New(rand.NewPCG(2026, 0x68726d64)) // the same grids every run, every machine
	grids := make([]puzzles.Grid, ProbeCount)
	for i := range grids {
		g := make(puzzles.Grid, n)
		for row := range g {
			g[row] = make([]int, n)
		}
		for range 2 + i%2 {
			colour := 1 + r.IntN(9)
			top, left := r.IntN(n), r.IntN(n)
			bottom, right := top+r.IntN(n-top), left+r.IntN(n-left)
			for y := top; y <= bottom; y++ {
				for x := left; x <= right; x++ {
					g[y][x] = colour
				}
			}
		}
		// A marker cell of its own in each grid: no two probes can be equal.
		g[i%n][(i*2)%n] = 1 + i
		grids[i] = g
	}
	return grids
}

// ProbeInputInvariance runs the probe grids through m for ProbeCycles
// cycles and says whether at every cycle every prediction, decoded to a
// grid, came out the same (sameAnswers): a model that answers the same
// whatever it is shown has learnt nothing about its input.
func ProbeInputInvariance(ctx context.Context, m *Model) (bool, error) {
	b := m.Bundle()
	side := b.Manifest.Grid
	grids := b.Encoding.SampleGrids(ProbeCount, 2026) // a Sudoku or a maze model takes only its own puzzles
	if grids == nil {
		grids = ProbeGrids(side)
	}
	rows := make([][]int64, len(grids))
	for i, g := range grids {
		rows[i] = make([]int64, side*side)
		b.Encoding.Encode(g, side, rows[i])
	}
	cycles := min(ProbeCycles, b.Manifest.Halting.MaxCycles)
	results, err := m.Run(ctx, rows, RunOptions{Halting: HaltFixed, MaxCycles: cycles, Trace: TraceFull})
	if err != nil {
		return false, fmt.Errorf("input-invariance probe: %w", err)
	}
	answers := make([][]puzzles.Grid, cycles)
	for c := range cycles {
		for i, r := range results {
			// Without demonstrations the raw encoding takes the input's size,
			// the same for every probe.
			got, _, err := b.Encoding.Decode(r.Trace[c].Tokens, side, grids[i], nil)
			if err != nil {
				return false, fmt.Errorf("input-invariance probe: decode: %w", err)
			}
			answers[c] = append(answers[c], got)
		}
	}
	return sameAnswers(answers), nil
}

// sameAnswers says whether the probe grids got one answer at every cycle
// (answers[cycle][grid]), a grid at one cycle at least. Cycles with no grid
// for any probe say nothing: a model that has not yet drawn an answer at its
// first cycles (a random one; a trained one, perhaps) is not called
// input-invariant for it, while Agent Zero draws its one grid from the first.
func sameAnswers(answers [][]puzzles.Grid) bool {
	drawn := false
	for _, cycle := range answers {
		for _, g := range cycle[1:] {
			if !g.Equal(cycle[0]) {
				return false
			}
		}
		drawn = drawn || cycle[0].Rows() > 0
	}
	return drawn
}
