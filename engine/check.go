package engine

import (
	"fmt"
	"math"
	"strings"

	"github.com/hrmd/hrmd/engine/bundle"
)

// PrecisionCheck is the verdict of running a bundle's check set (the fp32
// reference it carries) through an engine: a TensorRT engine when it is
// built (stored beside it, so each engine is checked once), the CUDA
// provider when it takes a model, or any provider under hrmd verify.
type PrecisionCheck struct {
	Precision string `json:"precision"` // what ran: fp16, bf16 or fp32
	Provider  string `json:"provider,omitempty"`
	Passed    bool   `json:"passed"`
	// CheckSet is the check set's format: hrmd-golden/1 has no margins, and
	// every cell of it is judged as decided.
	CheckSet string `json:"check_set,omitempty"`
	// Tau and Delta are the rule's thresholds (CheckTau, CheckDelta): a cell
	// counts when the reference's margin there exceeds Tau, a halting
	// decision when the reference's halt logit is Delta or more from its
	// boundary.
	Tau    float64 `json:"tau"`
	Delta  float64 `json:"delta"`
	Inputs int     `json:"inputs"`
	// Cells are every cell of every cycle compared; CellsUndecided those the
	// reference was undecided at (margin <= Tau), which are not judged.
	Cells          int `json:"cells"`
	CellsUndecided int `json:"cells_undecided"`
	// FlipsCounted are decided cells whose argmax differs from the
	// reference's (any fails the check); FlipsUndecided differ where the
	// reference was undecided, and are not counted.
	FlipsCounted   int `json:"flips_counted"`
	FlipsUndecided int `json:"flips_undecided"`
	// WorstMiss is the counted flip whose reference margin was largest.
	WorstMiss *CellMiss `json:"worst_decided_miss,omitempty"`
	// MinCellAgreement is the lowest share of cells with the reference's
	// argmax, over every input and cycle (undecided cells included).
	MinCellAgreement float64 `json:"min_cell_agreement"`
	GridsSame        int     `json:"grids_same"`    // inputs whose decoded grid is the reference's
	GridsSkipped     int     `json:"grids_skipped"` // differing grids with an undecided cell: not judged
	HaltCyclesSame   int     `json:"halt_cycles_same"`
	// HaltingSkipped are inputs halting at another cycle where the
	// reference's decision was undecided: not judged.
	HaltingSkipped int     `json:"halting_skipped"`
	MaxHaltDiff    float64 `json:"max_halt_diff"`
	NonFinite      int     `json:"non_finite"`       // NaN or Inf values in logits or halt
	Reason         string  `json:"reason,omitempty"` // the first miss, in words
	// Cycles are the figures of every case and cycle compared, for hrmd
	// verify and the measurements behind Tau and Delta; neither an
	// engine's record nor a loaded model keeps them (withoutCycles).
	Cycles []CycleCheck `json:"cycles,omitempty"`
	// stored: read from an engine's record, not made by this load.
	stored bool
}

// CellMiss is one decided cell whose argmax differs from the reference's.
type CellMiss struct {
	Case   string  `json:"case"` // the check case's source
	Cycle  int     `json:"cycle"`
	Cell   int     `json:"cell"` // row * grid + column
	Want   int64   `json:"want"`
	Got    int64   `json:"got"`
	Margin float64 `json:"margin"` // the reference's margin at the cell
}

// CycleCheck is one case's comparison at one cycle.
type CycleCheck struct {
	Case           int `json:"case"` // index into the check set's cases
	Cycle          int `json:"cycle"`
	Flips          int `json:"flips"` // cells whose argmax differs, decided or not
	FlipsCounted   int `json:"flips_counted"`
	CellsUndecided int `json:"cells_undecided"`
	// FlipMargins are the reference's margins at the flipped cells, largest
	// first (at most maxFlipMargins of them).
	FlipMargins []float64 `json:"flip_margins,omitempty"`
	// Halt and RefHalt are the halt probabilities; HaltMargin and
	// RefHaltMargin the halt logit less the rule's boundary (stop when
	// positive: q_halt − q_continue for act-v1), how decided the halting
	// was. Each is null when it is not a finite number (a NaN, or a halt of
	// exactly 0 or 1, whose logit is infinite), the margins also for a rule
	// without a decision.
	Halt          *float64 `json:"halt"`
	RefHalt       *float64 `json:"ref_halt"`
	HaltMargin    *float64 `json:"halt_margin"`
	RefHaltMargin *float64 `json:"ref_halt_margin"`
}

// finite is x, or nil when x is NaN or infinite (JSON has no such numbers).
func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// withoutCycles is the verdict without its per-cycle figures, as an
// engine's record and a loaded model (EngineCacheUse) keep it.
func (c *PrecisionCheck) withoutCycles() *PrecisionCheck {
	if c == nil {
		return nil
	}
	out := *c
	out.Cycles = nil
	return &out
}

// maxFlipMargins bounds CycleCheck.FlipMargins: a control format flips
// hundreds of cells a cycle.
const maxFlipMargins = 10

// Summary is the verdict in one line, with the figures.
func (c *PrecisionCheck) Summary() string {
	verdict := "passed"
	if !c.Passed {
		verdict = "FAILED"
	}
	var b strings.Builder
	if c.Cells == 0 && c.Tau == 0 {
		// A verdict stored by an hrmd before the decided-cell rule: its
		// figures, as it judged them.
		fmt.Fprintf(
			&b,
			"%s check %s: %d/%d grids identical, %d/%d halting cycles the same, cells agreeing >= %.4f, halt within %.4f, %d "+
				"NaN/Inf (judged by the rule before tau and delta: every cell counted)",
			c.Precision,
			verdict,
			c.GridsSame,
			c.Inputs,
			c.HaltCyclesSame,
			c.Inputs,
			c.MinCellAgreement,
			c.MaxHaltDiff,
			c.NonFinite,
		)
		if c.Reason != "" {
			b.WriteString(" (" + c.Reason + ")")
		}
		return b.String()
	}
	fmt.Fprintf(
		&b,
		"%s check %s: %d decided cells flipped (tau %g; %d flips at undecided cells not counted, %d of %d cells undecided)",
		c.Precision,
		verdict,
		c.FlipsCounted,
		c.Tau,
		c.FlipsUndecided,
		c.CellsUndecided,
		c.Cells,
	)
	fmt.Fprintf(
		&b,
		", %d/%d grids identical (%d not judged), %d/%d halting cycles the same (delta %g; %d not judged), halt within "+
			"%.4f, %d NaN/Inf",
		c.GridsSame,
		c.Inputs,
		c.GridsSkipped,
		c.HaltCyclesSame,
		c.Inputs,
		c.Delta,
		c.HaltingSkipped,
		c.MaxHaltDiff,
		c.NonFinite,
	)
	if c.CheckSet == bundle.CheckSetFormatV1 {
		b.WriteString("; the check set has no margins (hrmd-golden/1): every cell judged as decided")
	}
	if c.Reason != "" {
		b.WriteString(" (" + c.Reason + ")")
	}
	return b.String()
}
