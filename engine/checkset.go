package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/hrmd/hrmd/puzzles"
)

// CheckSetFormat is the check set's format: the exporter's golden file
// (engine/export/hrm_export.py), which a bundle names under check:.
const CheckSetFormat = "hrmd-golden/1"

// The tolerances an engine is held to against the fp32 reference (issue
// 13's): fp16 moves logits a little; it must not move an answer. The
// decoded grids and halting cycles are exact; per-cell argmax may differ in
// one cell in a thousand, which on a 30x30 grid (900 cells) allows none: a
// single near tie that flips fails the engine, and fp32 takes over.
const (
	checkMinCellAgreement = 0.999
	checkMaxHaltDiff      = 0.01
)

// CheckSet is a bundle's check set: real inputs, each with the reference's
// argmax and halt value at every cycle, its halting cycle and its grid.
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
	Cycles    []struct {
		Halt   float64
		Argmax []int64
	}
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
	if err := cs.validate(b.Seq()); err != nil {
		return nil, errorf(CodeBundleInvalid, "%s: %v; export the bundle again (engine/export/hrm_export.py)", path, err)
	}
	return &cs, nil
}

func (cs *CheckSet) validate(seq int) error {
	if cs.Format != CheckSetFormat {
		return fmt.Errorf("format is %q; this hrmd reads %q", cs.Format, CheckSetFormat)
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

// compare holds results (a full-trace run of Tokens with the model's
// halting) to the reference. nonFinite counts NaN and Inf seen in the
// logits and halt outputs during that run.
func (cs *CheckSet) compare(b *Bundle, precision string, results []RowResult, nonFinite int) *PrecisionCheck {
	c := &PrecisionCheck{Precision: precision, Inputs: len(cs.Cases), MinCellAgreement: 1, NonFinite: nonFinite}
	miss := func(format string, args ...any) {
		if c.Reason == "" {
			c.Reason = fmt.Sprintf(format, args...)
		}
	}
	if nonFinite > 0 {
		miss("%d NaN or Inf values in the outputs", nonFinite)
	}
	for i, ref := range cs.Cases {
		r := results[i]
		if r.Cycles == ref.HaltCycle {
			c.HaltCyclesSame++
		} else {
			miss("%s halts at cycle %d, the reference at %d", ref.Source, r.Cycles, ref.HaltCycle)
		}
		if cs.sameGrid(b, ref, r.Tokens) {
			c.GridsSame++
		} else {
			miss("%s decodes to another grid than the reference's", ref.Source)
		}
		for k, cy := range r.Trace {
			if k >= len(ref.Cycles) {
				break
			}
			agree := cellAgreement(cy.Tokens, ref.Cycles[k].Argmax)
			if agree < c.MinCellAgreement {
				c.MinCellAgreement = agree
			}
			if agree < checkMinCellAgreement {
				miss("%s cycle %d: %.2f%% of cells have the reference's argmax", ref.Source, cy.Cycle, 100*agree)
			}
			d := math.Abs(cy.Halt - ref.Cycles[k].Halt)
			if math.IsNaN(d) || d > 1 {
				// A halt that is no number: the most a probability can be
				// off (NonFinite counts it), and JSON can still store it.
				d = 1
			}
			c.MaxHaltDiff = max(c.MaxHaltDiff, d)
			if d > checkMaxHaltDiff {
				miss("%s cycle %d: halt %.4f, the reference's %.4f", ref.Source, cy.Cycle, cy.Halt, ref.Cycles[k].Halt)
			}
		}
	}
	c.Passed = c.Reason == ""
	return c
}

func (cs *CheckSet) sameGrid(b *Bundle, ref CheckCase, tokens []int64) bool {
	got, _, err := b.Encoding.Decode(tokens, b.Manifest.Grid, puzzles.Grid(ref.Grid), nil)
	if err != nil || len(got) != len(ref.Decoded) {
		return false
	}
	for i := range got {
		if !slices.Equal(got[i], ref.Decoded[i]) {
			return false
		}
	}
	return true
}

func cellAgreement(got, want []int64) float64 {
	if len(got) != len(want) || len(want) == 0 {
		return 0
	}
	same := 0
	for i := range want {
		if got[i] == want[i] {
			same++
		}
	}
	return float64(same) / float64(len(want))
}
