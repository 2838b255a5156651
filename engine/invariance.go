package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/hrmd/hrmd/puzzles"
)

// ProbeGrids are the grids the input-invariance probe runs: fixed, so the
// probe is repeatable, and different in size and in every colour.
func ProbeGrids() []puzzles.Grid {
	// Small and large, square and not, so that a model whose answer depends
	// on its input cannot give one answer to all of them by chance.
	sides := [][2]int{{3, 3}, {6, 4}, {9, 9}, {5, 12}}
	grids := make([]puzzles.Grid, len(sides))
	state := uint32(2026) // a small LCG: the grids must not change between releases
	for i, rc := range sides {
		g := make(puzzles.Grid, rc[0])
		for r := range g {
			g[r] = make([]int, rc[1])
			for c := range g[r] {
				state = state*1664525 + 1013904223
				g[r][c] = int(state>>24) % 10
			}
		}
		grids[i] = g
	}
	return grids
}

// ProbeInputInvariance runs the probe grids through m with opts and says
// whether every prediction came out the same: a model that answers the
// same whatever it is shown has learnt nothing about its input (the
// checkpoint that scored "71%" by answering zeros everywhere was one).
func ProbeInputInvariance(ctx context.Context, m *Model, opts RunOptions) (bool, error) {
	b := m.Bundle()
	side := b.Manifest.Grid
	grids := ProbeGrids()
	rows := make([][]int64, len(grids))
	for i, g := range grids {
		if err := puzzles.CheckFits(g, side, "probe grid"); err != nil {
			return false, fmt.Errorf("input-invariance probe: %w", err)
		}
		rows[i] = make([]int64, side*side)
		b.Encoding.Encode(g, side, rows[i])
	}
	results, err := m.Run(ctx, rows, opts)
	if err != nil {
		return false, fmt.Errorf("input-invariance probe: %w", err)
	}
	for _, r := range results[1:] {
		if !slices.Equal(r.Tokens, results[0].Tokens) {
			return false, nil
		}
	}
	return true, nil
}
