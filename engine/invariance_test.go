//go:build cgo

package engine

import (
	"context"
	"testing"

	"github.com/hrmd/hrmd/puzzles"
)

// The probe grids fit every model grid (1 to 30), are fixed, and differ from
// one another, so that only a model ignoring its input answers them alike.
func TestProbeGrids(t *testing.T) {
	for side := 1; side <= 30; side++ {
		grids := ProbeGrids(side)
		if len(grids) != ProbeCount {
			t.Fatalf("side %d: %d grids", side, len(grids))
		}
		for i := range grids {
			if n := min(side, 9); grids[i].Rows() != n || grids[i].Cols() != n {
				t.Errorf("side %d: probe %d is %s, want %dx%d", side, i, grids[i].Size(), n, n)
			}
			for j := range i {
				if grids[i].Equal(grids[j]) {
					t.Errorf("side %d: probes %d and %d are equal", side, i, j)
				}
			}
		}
		if again := ProbeGrids(side); !again[3].Equal(grids[3]) {
			t.Fatalf("side %d: the probe grids change from call to call", side)
		}
	}
}

// The probe tells a model that answers the same whatever it is shown (the
// tiny model exported with its output forced to colour 0) from one whose
// answers depend on the input (the trained demo model). The untrained tiny
// models give every probe grid no grid at their last cycles, but read their
// input at the first, where the probe looks: they are not input-invariant.
func TestProbeInputInvariance(t *testing.T) {
	rt, _ := openRuntime(t, cpuConfig())
	for _, tt := range []struct {
		dir       string
		invariant bool
	}{
		{"testdata/nova-zero", true},
		{"models/demo", false}, // trained: its answers follow its input
		{fixtureDir, false},    // random weights: four answers at cycles 1 and 2, none at 8
		{"testdata/act-v1-tiny", false},
	} {
		m := loadModel(t, rt, tt.dir, 2) // fewer rows than probe grids: the run splits them
		got, err := ProbeInputInvariance(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.invariant {
			t.Errorf("%s: input-invariant %v, want %v", tt.dir, got, tt.invariant)
		}
	}
}

// The verdict over the probe's cycles: one grid for every probe at every
// cycle is input-invariant; a difference at any cycle is not; cycles where
// no probe got a grid say nothing either way.
func TestSameAnswers(t *testing.T) {
	zeros, ones, none := puzzles.Grid{{0, 0}}, puzzles.Grid{{1, 1}}, puzzles.Grid{}
	for _, tt := range []struct {
		name    string
		answers [][]puzzles.Grid
		want    bool
	}{
		{"one grid throughout (Agent Zero)", [][]puzzles.Grid{{zeros, zeros}, {zeros, zeros}}, true},
		{"one grid, then another for all", [][]puzzles.Grid{{zeros, zeros}, {ones, ones}}, true},
		{"no grid, then one for all", [][]puzzles.Grid{{none, none}, {zeros, zeros}}, true},
		{"differ at the first cycle", [][]puzzles.Grid{{zeros, ones}, {zeros, zeros}}, false},
		{"differ at the last cycle", [][]puzzles.Grid{{zeros, zeros}, {zeros, ones}}, false},
		{"a grid for one probe only", [][]puzzles.Grid{{none, zeros}, {none, none}}, false},
		{"no grid at any cycle", [][]puzzles.Grid{{none, none}, {none, none}}, false},
	} {
		if got := sameAnswers(tt.answers); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
