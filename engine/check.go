package engine

import "fmt"

// PrecisionCheck is the verdict of running a bundle's check set (the fp32
// reference it carries) through a TensorRT engine. It is stored beside the
// engine, so each engine is checked once.
type PrecisionCheck struct {
	Precision string `json:"precision"` // the engine's: fp16 or fp32
	Passed    bool   `json:"passed"`
	Inputs    int    `json:"inputs"`
	GridsSame int    `json:"grids_same"` // inputs whose decoded grid is the reference's
	// MinCellAgreement is the lowest share of cells with the reference's
	// argmax, over every input and cycle.
	MinCellAgreement float64 `json:"min_cell_agreement"`
	HaltCyclesSame   int     `json:"halt_cycles_same"`
	MaxHaltDiff      float64 `json:"max_halt_diff"`
	NonFinite        int     `json:"non_finite"`       // NaN or Inf values in logits or halt
	Reason           string  `json:"reason,omitempty"` // the first miss, in words
}

// Summary is the verdict in one line, with the figures.
func (c *PrecisionCheck) Summary() string {
	verdict := "passed"
	if !c.Passed {
		verdict = "FAILED"
	}
	s := fmt.Sprintf("%s check %s: %d/%d grids identical, %d/%d halting cycles the same, cells agreeing >= %.4f, halt within %.4f, %d NaN/Inf",
		c.Precision, verdict, c.GridsSame, c.Inputs, c.HaltCyclesSame, c.Inputs, c.MinCellAgreement, c.MaxHaltDiff, c.NonFinite)
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	return s
}
