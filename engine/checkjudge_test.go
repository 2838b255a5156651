package engine

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/engine/bundle"
)

// loadCheckSet reads a fixture bundle and its check set.
func loadCheckSet(t *testing.T, dir string) (*bundle.Bundle, *bundle.CheckSet) {
	t.Helper()
	b, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := bundle.LoadCheckSet(b)
	if err != nil || cs == nil {
		t.Fatalf("check set of %s: %v", dir, err)
	}
	return b, cs
}

// referenceRun is a run that answers exactly as the reference did, cycle by
// cycle, halting where it halted.
func referenceRun(cs *bundle.CheckSet) checkRun {
	run := checkRun{results: make([]RowResult, len(cs.Cases)), halts: make([][][]float32, len(cs.Cases))}
	for i, c := range cs.Cases {
		r := RowResult{Cycles: c.HaltCycle, Tokens: slices.Clone(c.Cycles[c.HaltCycle-1].Argmax)}
		for k := range c.HaltCycle {
			cy := c.Cycles[k]
			r.Trace = append(r.Trace, CycleTrace{Cycle: k + 1, Halt: cy.Halt, Tokens: slices.Clone(cy.Argmax)})
			raw := []float32{float32(cy.Halt)}
			if len(cy.Q) == 2 {
				raw = []float32{float32(cy.Q[0]), float32(cy.Q[1])}
			}
			run.halts[i] = append(run.halts[i], raw)
		}
		run.results[i] = r
	}
	return run
}

// cells lists a cycle's cells whose reference margin is above (decided) or
// at most (undecided) tau, in order.
func cells(cy bundle.CheckCycle, decided bool) []int {
	var out []int
	for cell, m := range cy.Margins {
		if (m > CheckTau) == decided {
			out = append(out, cell)
		}
	}
	return out
}

// flip gives a run's cells at one cycle another token; at the case's last
// cycle its answer too.
func flip(run checkRun, c, k int, cellList []int) {
	r := &run.results[c]
	for _, cell := range cellList {
		tok := &r.Trace[k].Tokens[cell]
		*tok = (*tok + 1) % 12
		if k == len(r.Trace)-1 {
			r.Tokens[cell] = *tok
		}
	}
}

// The rule judges what the reference decided, and only that: flips at
// near ties and a halting decision on the fence are not counted; a decided
// cell, a decided halting, a halt that drifts or a NaN fail the check, and
// the verdict says which, with its figures.
func TestCheckJudgesDecidedCells(t *testing.T) {
	b, cs := loadCheckSet(t, fixtureDir)
	if cs.Format != bundle.CheckSetFormat {
		t.Fatalf("the fixture's check set is %s; regenerate it (./build.sh fixtures)", cs.Format)
	}
	c := compare(cs, b, "fp16", referenceRun(cs))
	if !c.Passed || c.FlipsCounted != 0 || c.FlipsUndecided != 0 ||
		c.GridsSame != len(cs.Cases) || c.HaltCyclesSame != len(cs.Cases) ||
		c.Tau != CheckTau || c.Delta != CheckDelta || c.Cells == 0 || len(c.Cycles) == 0 {
		t.Fatalf("the reference against itself: %s", c.Summary())
	}
	// Case 0, cycle 2 has undecided cells and decided ones (the fixture is a random model).
	undecided, decided := cells(cs.Cases[0].Cycles[1], false), cells(cs.Cases[0].Cycles[1], true)
	if len(undecided) < 3 || len(decided) < 5 {
		t.Fatalf("case 0 cycle 2: %d undecided and %d decided cells; the test needs both", len(undecided), len(decided))
	}
	for _, tt := range []struct {
		name   string
		change func(run *checkRun)
		pass   bool
		reason string
		check  func(t *testing.T, c *PrecisionCheck)
	}{
		{"three undecided cells " +
			"flip", func(run *checkRun) { flip(*run, 0, 1, undecided[:3]) }, true, "", func(t *testing.T, c *PrecisionCheck) {
			if c.FlipsUndecided != 3 || c.FlipsCounted != 0 || c.WorstMiss != nil {
				t.Errorf("flips %d undecided, %d counted, worst %+v", c.FlipsUndecided, c.FlipsCounted, c.WorstMiss)
			}
		}},
		{"five decided cells flip", func(run *checkRun) { flip(*run, 0, 1, decided[:5]) }, false, "cycle 2: 5 decided " +
			"cells differ", func(t *testing.T, c *PrecisionCheck) {
			w := c.WorstMiss
			if c.FlipsCounted != 5 || w == nil || w.Cycle != 2 || w.Margin <= CheckTau || !slices.Contains(decided[:5], w.Cell) {
				t.Errorf("counted %d, worst %+v", c.FlipsCounted, w)
			}
			if row := c.Cycles[1]; row.Case != 0 || row.Cycle != 2 || row.Flips != 5 || row.FlipsCounted != 5 ||
				len(row.FlipMargins) != 5 || row.FlipMargins[0] != w.Margin {
				t.Errorf("cycle row %+v", row)
			}
		}},
		{"a halt drifts", func(run *checkRun) { run.results[1].Trace[0].Halt += 0.05 }, false, "cycle 1: halt", nil},
		{"a NaN halt", func(run *checkRun) {
			run.results[0].Trace[0].Halt = math.NaN()
			run.nonFinite = 1
		}, false, "1 NaN or Inf", func(t *testing.T, c *PrecisionCheck) {
			if c.MaxHaltDiff != 1 || c.NonFinite != 1 {
				t.Errorf("max halt diff %g, non-finite %d", c.MaxHaltDiff, c.NonFinite)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			run := referenceRun(cs)
			tt.change(&run)
			c := compare(cs, b, "fp16", run)
			if c.Passed != tt.pass || !strings.Contains(c.Reason, tt.reason) {
				t.Fatalf("passed %v, want %v; reason %q, want it to hold %q", c.Passed, tt.pass, c.Reason, tt.reason)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// A run that halts at another cycle than the reference fails where the
// reference's decision was clear, and is not judged where it was on the
// fence (then the answer at the run's own last cycle is compared).
func TestCheckJudgesHalting(t *testing.T) {
	b, cs := loadCheckSet(t, actFixtureDir)
	h := b.Manifest.Halting
	// A case and cycle before its halt where the reference's q margin is
	// clear, and one that is made to sit on the fence.
	c0 := cs.Cases[0]
	if c0.HaltCycle < 3 {
		t.Fatalf("case 0 halts at cycle %d; the test needs a later halt", c0.HaltCycle)
	}
	stopEarly := func(run checkRun) {
		r := &run.results[0]
		r.Trace = r.Trace[:1]
		r.Halt, r.Cycles = r.Trace[0].Halt, 1
		r.Tokens = slices.Clone(r.Trace[0].Tokens)
	}
	if m, _ := bundle.HaltMargin(h, c0.Cycles[0].Halt, c0.Cycles[0].Q); m > -CheckDelta {
		t.Fatalf("case 0 cycle 1: q margin %g; the test needs a clear 'go on'", m)
	}
	c := compare(cs, b, "fp16", func() checkRun { run := referenceRun(cs); stopEarly(run); return run }())
	if c.Passed || !strings.Contains(c.Reason, "halts at cycle 1, the reference at") {
		t.Errorf("a clear 'go on' ignored: %s", c.Summary())
	}

	fence := *cs
	fence.Cases = slices.Clone(cs.Cases)
	fence.Cases[0].Cycles = slices.Clone(c0.Cycles)
	q := c0.Cycles[0].Q
	fence.Cases[0].Cycles[0].Q = []float64{q[1] - CheckDelta/2, q[1]}
	run := referenceRun(cs)
	stopEarly(run)
	c = compare(&fence, b, "fp16", run)
	if !c.Passed || c.HaltingSkipped != 1 || c.HaltCyclesSame != len(cs.Cases)-1 {
		t.Errorf("a decision on the fence judged: %s", c.Summary())
	}
}

// A check set of format 1 carries no margins: every cell and halting
// decision of it counts, as before margins existed, and the verdict says so.
func TestCheckSetFormat1IsStrict(t *testing.T) {
	b, cs := loadCheckSet(t, fixtureDir)
	v1 := *cs
	v1.Format = bundle.CheckSetFormatV1
	v1.Cases = slices.Clone(cs.Cases)
	for i := range v1.Cases {
		v1.Cases[i].Cycles = slices.Clone(v1.Cases[i].Cycles)
		for k := range v1.Cases[i].Cycles {
			v1.Cases[i].Cycles[k].Margins = nil
		}
	}
	if err := v1.Validate(b); err != nil {
		t.Fatalf("a format 1 set does not load: %v", err)
	}
	run := referenceRun(cs)
	if c := compare(&v1, b, "fp16", run); !c.Passed || c.CellsUndecided != 0 ||
		!strings.Contains(c.Summary(), "no margins") {
		t.Fatalf("format 1 against itself: %s", c.Summary())
	}
	flip(run, 0, 1, cells(cs.Cases[0].Cycles[1], false)[:1])
	if c := compare(&v1, b, "fp16", run); c.Passed || c.FlipsCounted != 1 {
		t.Errorf("a flip at a near tie of a format 1 set passed: %s", c.Summary())
	}
}

// A verdict with a NaN can be stored beside an engine and shown as JSON;
// the record keeps it without its per-cycle figures.
func TestCheckVerdictWithNaNIsStored(t *testing.T) {
	b, cs := loadCheckSet(t, fixtureDir)
	run := referenceRun(cs)
	run.results[0].Trace[0].Halt = math.NaN()
	run.nonFinite = 1
	check := compare(cs, b, "fp16", run)
	if _, err := json.Marshal(check); err != nil {
		t.Fatalf("the verdict does not marshal: %v", err)
	}
	dir := t.TempDir()
	if err := writeEngineRecord(dir, EngineRecord{Check: check}); err != nil {
		t.Fatalf("the verdict cannot be stored: %v", err)
	}
	rec, err := ReadEngineRecord(dir)
	if err != nil || rec.Check.Passed || rec.Check.NonFinite != 1 || rec.Check.Cycles != nil || len(check.Cycles) == 0 {
		t.Errorf("read back %+v, %v", rec, err)
	}
}
