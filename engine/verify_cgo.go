//go:build cgo

package engine

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/hrmd/hrmd/engine/bundle"
)

// Check runs the check set through the model as the daemon runs tasks (the
// model's batch, its own halting) and holds the answers to the reference
// the set carries: what a TensorRT engine is held to when it is built, the
// CUDA provider when it takes a model, and hrmd verify any provider.
func (m *Model) Check(cs *bundle.CheckSet) (*PrecisionCheck, error) {
	run := checkRun{halts: make([][][]float32, len(cs.Cases))}
	m.onStep = func(_ int, active []int, logits []float32) {
		run.nonFinite += countNonFinite(logits[:len(active)*m.seq*m.vocab]) + countNonFinite(m.halt[:len(active)*m.haltWidth])
		for k, row := range active {
			run.halts[row] = append(run.halts[row], slices.Clone(m.halt[k*m.haltWidth:(k+1)*m.haltWidth]))
		}
	}
	defer func() { m.onStep = nil }()
	var err error
	run.results, err = m.RunPuzzles(
		context.Background(),
		cs.Tokens(),
		cs.PuzzleRows(m.bundle),
		RunOptions{Halting: HaltModel, Trace: TraceFull},
	)
	if err != nil {
		return nil, fmt.Errorf("run the check set: %w", err)
	}
	c := compare(cs, m.bundle, m.precision, run)
	c.Provider = m.Provider()
	return c, nil
}

func countNonFinite(v []float32) int {
	n := 0
	for _, x := range v {
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			n++
		}
	}
	return n
}
