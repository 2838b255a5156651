package bundle

import (
	"slices"
	"strings"
	"testing"
)

// A format 2 set must carry a margin for every cell, and act-v1's q.
func TestCheckSetValidation(t *testing.T) {
	b, cs := loadCheckSet(t, actFixtureDir)
	for _, tt := range []struct {
		name   string
		change func(cy *CheckCycle)
		want   string
	}{
		{"margins", func(cy *CheckCycle) { cy.Margins = cy.Margins[:10] }, "cases[0].cycles[0].margins has 10 cells"},
		{"q", func(cy *CheckCycle) { cy.Q = nil }, "cases[0].cycles[0].q has 0 values"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := *cs
			bad.Cases = slices.Clone(cs.Cases)
			bad.Cases[0].Cycles = slices.Clone(cs.Cases[0].Cycles)
			tt.change(&bad.Cases[0].Cycles[0])
			if err := bad.Validate(b); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}
