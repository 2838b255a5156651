package bundle

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
)

// The check set's formats: the exporter's golden file
// (engine/export/hrm_export.py), which a bundle names under check:. Format 2
// adds each cell's margin per cycle; a format 1 set has none, and every cell
// and halting decision of it is judged as decided (as strictly as before
// margins existed).
const (
	CheckSetFormat   = "hrmd-golden/2"
	CheckSetFormatV1 = "hrmd-golden/1"
)

// CheckSet is a bundle's check set: real inputs, each with the reference's
// argmax, margin and halt signal at every cycle, its halting cycle and its grid.
type CheckSet struct {
	Format    string
	Reference string
	Cases     []CheckCase
}

// CheckCase is one input of the check set.
type CheckCase struct {
	Source    string
	Puzzle    string // act-v1: the identifier whose table row the case runs with ("" or unknown: the blank row)
	Grid      [][]int
	Tokens    []int64
	HaltCycle int `json:"halt_cycle"`
	Decoded   [][]int
	Cycles    []CheckCycle
}

// CheckCycle is the reference at one cycle of a case.
type CheckCycle struct {
	Halt   float64   // the halt signal as a probability
	Q      []float64 // act-v1: q_halt, q_continue (logits)
	Argmax []int64
	// Margins are each cell's largest logit less its second largest (format
	// 2; nil in format 1): how far the reference was from a tie.
	Margins []float64
}

// LoadCheckSet reads the bundle's check set; nil when the manifest names none.
func LoadCheckSet(b *Bundle) (*CheckSet, error) {
	if b.Manifest.Check == nil {
		return nil, nil
	}
	path := b.Path(b.Manifest.Check.File)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Code: CodeBundleInvalid, Message: fmt.Sprintf("read the check set: %v", err), Err: err}
	}
	var cs CheckSet
	if err := json.Unmarshal(data, &cs); err != nil {
		return nil, &Error{Code: CodeBundleInvalid, Message: fmt.Sprintf("%s: %v", path, err), Err: err}
	}
	if err := cs.Validate(b); err != nil {
		return nil, errorf(CodeBundleInvalid, "%s: %v; export the bundle again (engine/export/hrm_export.py)", path, err)
	}
	return &cs, nil
}

// Validate checks the set against the bundle it belongs to: its format, and
// a token per cell, an argmax (and in format 2 a margin) per cell at every
// cycle, a halting cycle among those recorded.
func (cs *CheckSet) Validate(b *Bundle) error {
	seq := b.Seq()
	if cs.Format != CheckSetFormat && cs.Format != CheckSetFormatV1 {
		return fmt.Errorf("format is %q; this hrmd reads %q and %q", cs.Format, CheckSetFormat, CheckSetFormatV1)
	}
	if len(cs.Cases) == 0 {
		return fmt.Errorf("cases is empty")
	}
	for i, c := range cs.Cases {
		if len(c.Tokens) != seq {
			return fmt.Errorf("cases[%d].tokens has %d tokens; the model takes %d", i, len(c.Tokens), seq)
		}
		if c.HaltCycle < 1 || c.HaltCycle > len(c.Cycles) {
			return fmt.Errorf("cases[%d].halt_cycle is %d with %d cycles recorded", i, c.HaltCycle, len(c.Cycles))
		}
		for j, cy := range c.Cycles {
			if len(cy.Argmax) != seq {
				return fmt.Errorf("cases[%d].cycles[%d].argmax has %d cells; the model has %d", i, j, len(cy.Argmax), seq)
			}
			if cs.Format == CheckSetFormat && len(cy.Margins) != seq {
				return fmt.Errorf("cases[%d].cycles[%d].margins has %d cells; the model has %d", i, j, len(cy.Margins), seq)
			}
			if b.Manifest.Halting.Rule == RuleQCompare && cs.Format == CheckSetFormat && len(cy.Q) != 2 {
				return fmt.Errorf(
					"cases[%d].cycles[%d].q has %d values; act-v1's q head has 2 (q_halt, q_continue)",
					i,
					j,
					len(cy.Q),
				)
			}
		}
	}
	return nil
}

// Tokens are the check set's inputs, one row each.
func (cs *CheckSet) Tokens() [][]int64 {
	rows := make([][]int64, len(cs.Cases))
	for i, c := range cs.Cases {
		rows[i] = c.Tokens
	}
	return rows
}

// PuzzleRows are the table rows the cases run with (nil without a table).
func (cs *CheckSet) PuzzleRows(b *Bundle) []int {
	if b.Puzzles == nil {
		return nil
	}
	rows := make([]int, len(cs.Cases))
	for i, c := range cs.Cases {
		rows[i], _ = b.Puzzles.Row(c.Puzzle)
	}
	return rows
}

// Margin is the reference's margin at a cell: +Inf (decided) in a format 1
// set, which records none.
func (cy CheckCycle) Margin(cell int) float64 {
	if cy.Margins == nil {
		return math.Inf(1)
	}
	return cy.Margins[cell]
}

// HaltMargin is how far a halting decision was from going the other way,
// in logits, from the halt probability and act-v1's q logits: q_halt −
// q_continue for the q_compare rule, logit(halt) − logit(threshold) for the
// threshold rule (its output is a sigmoid's). Its sign says stop (+) or go
// on (−). false for a rule without a decision, or q values missing.
func HaltMargin(h Halting, halt float64, q []float64) (float64, bool) {
	switch h.Rule {
	case RuleQCompare:
		if len(q) == 2 {
			return q[0] - q[1], true
		}
	case RuleThreshold:
		return logit(halt) - logit(h.Threshold), true
	}
	return 0, false
}

// logit is the inverse of the sigmoid, ±Inf at 0 and 1 (a saturated halt is
// as decided as can be).
func logit(p float64) float64 {
	return math.Log(p) - math.Log1p(-p)
}
