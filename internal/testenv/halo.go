package testenv

import "math/rand/v2"

// Halo is the demo model's rule (ARC-AGI-1 training/dc1df850), written here
// independently of the Python generator the model was trained on: every red
// (2) cell paints its eight neighbours blue (1) where they are black (0).
func Halo(g [][]int) [][]int {
	out := make([][]int, len(g))
	for r := range g {
		out[r] = append([]int(nil), g[r]...)
	}
	for r := range g {
		for c := range g[r] {
			if g[r][c] != 2 {
				continue
			}
			for rr := max(0, r-1); rr <= min(len(g)-1, r+1); rr++ {
				for cc := max(0, c-1); cc <= min(len(g[r])-1, c+1); cc++ {
					if g[rr][cc] == 0 {
						out[rr][cc] = 1
					}
				}
			}
		}
	}
	return out
}

// HaloInput draws a grid of the demo model's family: 3-15 by 3-15, black,
// with some red cells (at least one) and some cells of the colours 3-9 that
// must stay.
func HaloInput(rng *rand.Rand) [][]int {
	rows, cols := 3+rng.IntN(13), 3+rng.IntN(13)
	g := make([][]int, rows)
	red := 0.01 + 0.05*rng.Float64()
	other := 0.08 * rng.Float64()
	reds := 0
	for r := range g {
		g[r] = make([]int, cols)
		for c := range g[r] {
			switch x := rng.Float64(); {
			case x < red:
				g[r][c] = 2
				reds++
			case x < red+other:
				g[r][c] = 3 + rng.IntN(7)
			}
		}
	}
	if reds == 0 {
		g[rng.IntN(rows)][rng.IntN(cols)] = 2
	}
	return g
}
