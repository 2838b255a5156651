//go:build cgo

package engine

import (
	"context"
	"testing"
)

// The probe tells a model that answers the same whatever it is shown (the
// tiny model exported with its output forced to colour 0) from one whose
// answers depend on the input (the same model, untouched), and its grids are
// fixed and all different.
func TestProbeInputInvariance(t *testing.T) {
	grids := ProbeGrids()
	for i := range grids {
		for j := range i {
			if grids[i].Equal(grids[j]) {
				t.Fatalf("probe grids %d and %d are equal", i, j)
			}
		}
	}
	if again := ProbeGrids(); !again[2].Equal(grids[2]) {
		t.Fatal("the probe grids change from call to call")
	}
	rt, _ := openRuntime(t, cpuConfig())
	for _, tt := range []struct {
		dir       string
		invariant bool
	}{
		{"testdata/nova-zero", true},
		{fixtureDir, false},
	} {
		m := loadModel(t, rt, tt.dir, 2) // fewer rows than probe grids: the run splits them
		got, err := ProbeInputInvariance(context.Background(), m, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.invariant {
			t.Errorf("%s: input-invariant %v, want %v", tt.dir, got, tt.invariant)
		}
	}
}
