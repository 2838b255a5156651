package engine

import (
	"fmt"
	"math"

	"github.com/hrmd/hrmd/engine/bundle"
)

// Halting modes (hrmd.yaml inference.halting, hrmd solve --halting).
const (
	HaltModel     = "model"     // the manifest's rule
	HaltConverged = "converged" // stop once the prediction is unchanged from one cycle to the next
	HaltFixed     = "fixed"     // always run max cycles
)

// What stopped a row (RowResult.HaltedBy, the answer's halted_by).
const (
	HaltedByModel     = "model"      // the model's halt signal
	HaltedByConverged = "converged"  // the prediction stopped changing
	HaltedByMaxCycles = "max_cycles" // ran out of cycles before halting
	HaltedByFixed     = "fixed"      // fixed mode: ran the cycles asked for
)

// Trace levels.
const (
	TraceSummary = "summary" // per cycle: halt value and cells changed
	TraceFull    = "full"    // and the predicted tokens of every cycle
	TraceRaw     = "raw"     // and the halt output as the graph gave it, for parity work
)

// RunOptions tune one run.
type RunOptions struct {
	Halting   string // model (default), converged or fixed
	MaxCycles int    // 0 = the manifest's halting.max_cycles
	Trace     string // summary (default), full or raw
}

// Validate checks the options; messages name the setting.
func (o RunOptions) Validate() error {
	switch o.Halting {
	case "", HaltModel, HaltConverged, HaltFixed:
	default:
		return fmt.Errorf("halting mode %q is not one of model, converged, fixed", o.Halting)
	}
	if o.MaxCycles < 0 || o.MaxCycles > bundle.MaxCyclesLimit {
		return fmt.Errorf("max cycles %d is outside 0 (the manifest's) to %d", o.MaxCycles, bundle.MaxCyclesLimit)
	}
	switch o.Trace {
	case "", TraceSummary, TraceFull, TraceRaw:
	default:
		return fmt.Errorf("trace %q is not one of summary, full, raw", o.Trace)
	}
	return nil
}

// CycleTrace is one cycle of one row.
type CycleTrace struct {
	Cycle   int
	Halt    float64 // the halt signal as a probability
	Changed int     // tokens that differ from the cycle before (cycle 1: from the input)
	Tokens  []int64 // the cycle's prediction; with TraceFull and TraceRaw
	// HaltOut is the row's halt output as the graph gave it (q_compare:
	// q_halt, q_continue; threshold: the probability); only with TraceRaw.
	HaltOut []float32
}

// RowResult is the outcome for one input row.
type RowResult struct {
	Cycles   int
	HaltedBy string
	Tokens   []int64 // the final prediction: argmax per cell, grid x grid
	Halt     float64 // the last cycle's halt signal as a probability
	Trace    []CycleTrace
}

// haltPolicy decides, cycle by cycle, when a row is done.
type haltPolicy struct {
	mode      string
	rule      string
	threshold float64
	minCycles int
	maxCycles int
}

func newHaltPolicy(h bundle.Halting, o RunOptions) haltPolicy {
	p := haltPolicy{mode: o.Halting, rule: h.Rule, threshold: h.Threshold, minCycles: h.MinCycles, maxCycles: h.MaxCycles}
	if p.mode == "" {
		p.mode = HaltModel
	}
	if o.MaxCycles > 0 {
		p.maxCycles = o.MaxCycles
	}
	p.minCycles = min(p.minCycles, p.maxCycles)
	return p
}

// haltSignal reads a row's halt output: a probability (threshold rule, [B,1])
// or q logits (q_compare, [B,2]: q_halt, q_continue). It returns the value
// reported as the row's halt probability and whether the model asks to stop.
func (p haltPolicy) haltSignal(out []float32) (prob float64, stop bool) {
	switch p.rule {
	case bundle.RuleQCompare:
		return sigmoid(float64(out[0])), out[0] > out[1]
	case bundle.RuleThreshold:
		return float64(out[0]), float64(out[0]) > p.threshold
	}
	// fixed: the output is reported but never stops the row.
	v := float64(out[0])
	if len(out) > 1 || v < 0 || v > 1 {
		v = sigmoid(v)
	}
	return v, false
}

// decide says whether a row stops after cycle (1-based), and why.
func (p haltPolicy) decide(cycle int, modelStops bool, changed int) (bool, string) {
	switch {
	case p.mode == HaltFixed:
		if cycle >= p.maxCycles {
			return true, HaltedByFixed
		}
		return false, ""
	case p.mode == HaltConverged && cycle >= 2 && changed == 0:
		return true, HaltedByConverged
	case p.mode == HaltModel && p.rule != bundle.RuleFixed && cycle >= p.minCycles && modelStops:
		return true, HaltedByModel
	case cycle >= p.maxCycles:
		if p.mode == HaltModel && p.rule == bundle.RuleFixed {
			return true, HaltedByFixed
		}
		return true, HaltedByMaxCycles
	}
	return false, ""
}

// argmaxInto writes, for each of the seq cells of one row's logits, the index
// of the largest of its vocab values (the first of equals) into dst, and
// returns how many cells differ from prev.
func argmaxInto(dst, prev []int64, logits []float32, vocab int) (changed int) {
	for cell := range dst {
		row := logits[cell*vocab : (cell+1)*vocab]
		best := 0
		for t := 1; t < vocab; t++ {
			if row[t] > row[best] {
				best = t
			}
		}
		dst[cell] = int64(best)
		if dst[cell] != prev[cell] {
			changed++
		}
	}
	return changed
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
