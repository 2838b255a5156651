package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Golden is a bundle's golden.json: the PyTorch reference for real ARC inputs,
// cycle by cycle, that engine/export/hrm_export.py --golden writes
// (format hrmd-golden/2). Every Go test reads it through this one schema.
type Golden struct {
	Format  string
	Halting struct {
		Threshold float64
		MinCycles int `json:"min_cycles"`
		MaxCycles int `json:"max_cycles"`
	}
	LogitCells []int `json:"logit_cells"`
	Cases      []GoldenCase
}

// GoldenCase is one input: its tokens, every cycle's halt value, argmax and
// a few cells' logits, where the model halted and the grid it decodes to.
type GoldenCase struct {
	Source    string // "ARC-AGI-1 training/007bbfb7.json test[0].input"
	Puzzle    string // act-v1: the identifier whose puzzle table row the case ran with
	Grid      [][]int
	Tokens    []int64
	HaltCycle int    `json:"halt_cycle"`
	HaltedBy  string `json:"halted_by"`
	Decoded   [][]int
	Cycles    []struct {
		Halt   float64
		Q      []float64 // act-v1: the q head's (q_halt, q_continue)
		Argmax []int64
		Logits map[string][]float64
	}
}

// TaskFile is the case's ARC task file below arcDir ("training/007bbfb7.json").
func (c GoldenCase) TaskFile(arcDir string) string {
	return filepath.Join(arcDir, strings.Fields(c.Source)[1])
}

// ReadGolden reads dir/golden.json, which must hold at least one case.
func ReadGolden(t testing.TB, dir string) Golden {
	t.Helper()
	path := filepath.Join(dir, "golden.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g Golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if g.Format != "hrmd-golden/2" || len(g.Cases) == 0 {
		t.Fatalf(
			"%s: format %q with %d cases; want hrmd-golden/2 with at least one (./build.sh fixtures writes it)",
			path,
			g.Format,
			len(g.Cases),
		)
	}
	return g
}

// SplittingThreshold is a halting threshold between the golden halt values
// (above three quarters of them): with it some rows halt early and others
// run on, so one batch holds rows that halt apart.
func (g Golden) SplittingThreshold() float64 {
	var halts []float64
	for _, c := range g.Cases {
		for _, cy := range c.Cycles[1:] {
			halts = append(halts, cy.Halt)
		}
	}
	slices.Sort(halts)
	return (halts[len(halts)*3/4] + halts[len(halts)*3/4+1]) / 2
}
