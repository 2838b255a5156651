package engine

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/puzzles"
)

// The check's thresholds, measured (docs/jetson.md, "How fp16 was measured";
// ./build.sh measure-precision -full): every bundle we have was run through a
// precision proxy that stores each tensor in fp16, bf16 or e4m3
// (engine/export/simulate_precision.py) and compared with its fp32 reference
// by this rule.
//
// CheckTau: a cell is decided when the reference's margin there (its largest
// logit less its second) exceeds it. No fp16 proxy flipped a cell of margin
// above 0.011 (act-v1-tiny; the trained demo model: 0.002), and e4m3 (fp8,
// the control) flips cells of margin 0.41 to 7.6 on every bundle whose cells
// move at all.
//
// CheckDelta: a halting decision is decided when the reference's halt logit
// (logit(halt) for the threshold rule, q_halt − q_continue for act-v1) is
// at least this far from the boundary. fp16 moved it by 0.06 at most.
//
// CheckMaxHaltDiff bounds the halt probability's drift at every cycle: fp16
// moved it by 0.0009 at most (bf16 0.003; e4m3 0.035 to 0.13 on nova).
const (
	CheckTau         = 0.25
	CheckDelta       = 0.25
	CheckMaxHaltDiff = 0.01
)

// checkRun is what a full-trace run of a check set's inputs gave: one
// result per case, and each case's raw halt outputs per cycle (the halt
// probability's [1] or act-v1's q logits [2]).
type checkRun struct {
	results   []RowResult
	halts     [][][]float32
	nonFinite int // NaN and Inf seen in logits and halt outputs
}

// judge holds a run to the check set's reference: the rule of the check.
type judge struct {
	cs      *bundle.CheckSet
	b       *bundle.Bundle
	halting bundle.Halting
	c       *PrecisionCheck
}

// compare holds run (a full-trace run of Tokens with the model's halting) to
// the reference. Only what the reference decided is judged: a cell whose
// margin is CheckTau or less may flip, a halting decision within CheckDelta
// of its boundary may go the other way (the run then stops being compared
// after the earlier halt), and a final grid with an undecided cell need not
// be equal. Everything else must be: no decided cell flipped at any cycle,
// the same halting cycle where decided, equal grids where every cell was
// decided, the halt probability within CheckMaxHaltDiff, no NaN or Inf.
func compare(cs *bundle.CheckSet, b *bundle.Bundle, precision string, run checkRun) *PrecisionCheck {
	j := &judge{cs: cs, b: b, halting: b.Manifest.Halting, c: &PrecisionCheck{
		Precision: precision, CheckSet: cs.Format, Tau: CheckTau, Delta: CheckDelta,
		Inputs: len(cs.Cases), MinCellAgreement: 1, NonFinite: run.nonFinite,
	}}
	if run.nonFinite > 0 {
		j.miss("%d NaN or Inf values in the outputs", run.nonFinite)
	}
	for i := range cs.Cases {
		j.judgeCase(i, run.results[i], run.halts[i])
	}
	j.c.Passed = j.c.Reason == ""
	return j.c
}

// miss records the first reason the check fails.
func (j *judge) miss(format string, args ...any) {
	if j.c.Reason == "" {
		j.c.Reason = fmt.Sprintf(format, args...)
	}
}

func (j *judge) judgeCase(i int, r RowResult, halts [][]float32) {
	ref := j.cs.Cases[i]
	for k, cy := range r.Trace {
		if k >= len(ref.Cycles) {
			break
		}
		row := j.judgeCells(i, cy, ref.Cycles[k])
		j.judgeHaltValue(&row, ref, cy, ref.Cycles[k], halts[k])
		j.c.Cycles = append(j.c.Cycles, row)
	}
	j.judgeHalting(ref, r)
	j.judgeGrid(ref, r)
}

// judgeCells compares one cycle's argmax, cell by cell.
func (j *judge) judgeCells(i int, got CycleTrace, want bundle.CheckCycle) CycleCheck {
	ref := j.cs.Cases[i]
	row := CycleCheck{Case: i, Cycle: got.Cycle}
	var worst *CellMiss
	same := 0
	for cell, w := range want.Argmax {
		m := want.Margin(cell)
		decided := m > CheckTau
		j.c.Cells++
		if !decided {
			j.c.CellsUndecided++
			row.CellsUndecided++
		}
		if got.Tokens[cell] == w {
			same++
			continue
		}
		row.Flips++
		row.FlipMargins = append(row.FlipMargins, m)
		if !decided {
			j.c.FlipsUndecided++
			continue
		}
		row.FlipsCounted++
		if worst == nil || m > worst.Margin {
			worst = &CellMiss{Case: ref.Source, Cycle: got.Cycle, Cell: cell, Want: w, Got: got.Tokens[cell], Margin: m}
		}
	}
	slices.SortFunc(row.FlipMargins, func(a, b float64) int { return cmp.Compare(b, a) })
	row.FlipMargins = row.FlipMargins[:min(len(row.FlipMargins), maxFlipMargins)]
	j.c.MinCellAgreement = min(j.c.MinCellAgreement, float64(same)/float64(max(len(want.Argmax), 1)))
	if worst != nil {
		j.c.FlipsCounted += row.FlipsCounted
		if j.c.WorstMiss == nil || worst.Margin > j.c.WorstMiss.Margin {
			j.c.WorstMiss = worst
		}
		j.miss(
			"%s cycle %d: %d decided cells differ from the reference (the most decided: cell %d, %d instead of %d, margin "+
				"%.3f > tau %g)",
			ref.Source,
			got.Cycle,
			row.FlipsCounted,
			worst.Cell,
			worst.Got,
			worst.Want,
			worst.Margin,
			CheckTau,
		)
	}
	return row
}

// judgeHaltValue holds the halt probability to the reference's at a cycle.
func (j *judge) judgeHaltValue(
	row *CycleCheck,
	ref bundle.CheckCase,
	got CycleTrace,
	want bundle.CheckCycle,
	raw []float32,
) {
	row.Halt, row.RefHalt = finite(got.Halt), finite(want.Halt)
	if rm, ok := bundle.HaltMargin(j.halting, want.Halt, want.Q); ok {
		gm, _ := bundle.HaltMargin(j.halting, got.Halt, float64s(raw))
		row.RefHaltMargin, row.HaltMargin = finite(rm), finite(gm)
	}
	d := math.Abs(got.Halt - want.Halt)
	if math.IsNaN(d) || d > 1 {
		// A halt that is no number: the most a probability can be off
		// (NonFinite counts it), and JSON can still store it.
		d = 1
	}
	j.c.MaxHaltDiff = max(j.c.MaxHaltDiff, d)
	if d > CheckMaxHaltDiff {
		j.miss(
			"%s cycle %d: halt %.4f, the reference's %.4f (more than %g apart)",
			ref.Source,
			got.Cycle,
			got.Halt,
			want.Halt,
			CheckMaxHaltDiff,
		)
	}
}

// judgeHalting compares the halting cycles: where they differ, the earlier
// of the two is where the decisions parted, and the reference's decision
// there counts only if it was decided (always, in a format 1 set).
func (j *judge) judgeHalting(ref bundle.CheckCase, r RowResult) {
	if r.Cycles == ref.HaltCycle {
		j.c.HaltCyclesSame++
		return
	}
	parted := min(r.Cycles, ref.HaltCycle)
	at := ref.Cycles[parted-1]
	m, ok := bundle.HaltMargin(j.halting, at.Halt, at.Q)
	if ok && j.cs.Format != bundle.CheckSetFormatV1 && math.Abs(m) < CheckDelta {
		j.c.HaltingSkipped++
		return
	}
	why := "the reference's decision there was decided"
	if ok {
		why = fmt.Sprintf("the reference's halt logit was %.3f from its boundary there, delta %g", m, CheckDelta)
	}
	j.miss(
		"%s halts at cycle %d, the reference at %d (they part at cycle %d: %s)",
		ref.Source,
		r.Cycles,
		ref.HaltCycle,
		parted,
		why,
	)
}

// judgeGrid compares the decoded answer with the reference's at the cycle
// the run stopped: it must be equal where every cell there was decided.
func (j *judge) judgeGrid(ref bundle.CheckCase, r RowResult) {
	c := r.Cycles
	if c < 1 || c > len(ref.Cycles) {
		j.miss("%s ran %d cycles; the reference records %d", ref.Source, c, len(ref.Cycles))
		return
	}
	want := ref.Decoded
	if c != ref.HaltCycle {
		want = j.decode(ref, ref.Cycles[c-1].Argmax)
	}
	if gridsEqual(j.decode(ref, r.Tokens), want) {
		j.c.GridsSame++
		return
	}
	for cell := range ref.Cycles[c-1].Argmax {
		if ref.Cycles[c-1].Margin(cell) <= CheckTau {
			j.c.GridsSkipped++
			return
		}
	}
	j.miss("%s decodes to another grid than the reference's", ref.Source)
}

// decode is a run's answer grid (nil when the tokens decode to none).
func (j *judge) decode(ref bundle.CheckCase, tokens []int64) [][]int {
	got, _, err := j.b.Encoding.Decode(tokens, j.b.Manifest.Grid, puzzles.Grid(ref.Grid), nil)
	if err != nil {
		return nil
	}
	return got
}

func gridsEqual(a, b [][]int) bool {
	return slices.EqualFunc(a, b, func(x, y []int) bool { return slices.Equal(x, y) })
}

func float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
