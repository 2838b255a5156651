package engine

import (
	"errors"
	"testing"

	"github.com/hrmd/hrmd/engine/bundle"
)

func TestHaltPolicy(t *testing.T) {
	threshold := bundle.Halting{Rule: bundle.RuleThreshold, Threshold: 0.9, MinCycles: 2, MaxCycles: 4}
	qcompare := bundle.Halting{Rule: bundle.RuleQCompare, MinCycles: 1, MaxCycles: 16}
	fixedRule := bundle.Halting{Rule: bundle.RuleFixed, MinCycles: 1, MaxCycles: 3}
	type step struct {
		cycle   int
		out     []float32
		changed int
		halted  bool
		by      string
	}
	tests := []struct {
		name    string
		halting bundle.Halting
		opts    RunOptions
		steps   []step
	}{
		{"threshold waits for min cycles", threshold, RunOptions{}, []step{
			{1, []float32{0.95}, 10, false, ""},
			{2, []float32{0.95}, 10, true, HaltedByModel}}},
		{"threshold is strict", threshold, RunOptions{}, []step{{2, []float32{0.9}, 10, false, ""}}},
		{"threshold runs out", threshold, RunOptions{}, []step{{4, []float32{0.1}, 10, true, HaltedByMaxCycles}}},
		{
			"max cycles override",
			threshold,
			RunOptions{MaxCycles: 1},
			[]step{{1, []float32{0.5}, 10, true, HaltedByMaxCycles}},
		},
		// min_cycles never exceeds the cycles allowed: a model that says stop at the last one is credited.
		{
			"override below min cycles",
			threshold,
			RunOptions{MaxCycles: 1},
			[]step{{1, []float32{0.99}, 10, true, HaltedByModel}},
		},
		{"q compare", qcompare, RunOptions{}, []step{
			{1, []float32{-1, 2}, 5, false, ""},
			{2, []float32{3, 2}, 5, true, HaltedByModel}}},
		{"fixed rule ignores halt", fixedRule, RunOptions{}, []step{
			{2, []float32{0.99}, 0, false, ""},
			{3, []float32{0.99}, 0, true, HaltedByFixed}}},
		{"fixed mode ignores halt", threshold, RunOptions{Halting: HaltFixed}, []step{
			{3, []float32{0.99}, 0, false, ""},
			{4, []float32{0.99}, 0, true, HaltedByFixed}}},
		{"converged", threshold, RunOptions{Halting: HaltConverged}, []step{
			{1, []float32{0.99}, 0, false, ""}, // cycle 1's count is against the input
			{2, []float32{0.99}, 3, false, ""},
			{3, []float32{0.1}, 0, true, HaltedByConverged}}},
		{
			"converged runs out",
			threshold,
			RunOptions{Halting: HaltConverged},
			[]step{{4, []float32{0.99}, 2, true, HaltedByMaxCycles}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newHaltPolicy(tt.halting, tt.opts)
			for _, s := range tt.steps {
				_, stops := p.haltSignal(s.out)
				halted, by := p.decide(s.cycle, stops, s.changed)
				if halted != s.halted || by != s.by {
					t.Errorf("cycle %d: halted=%v by %q, want %v by %q", s.cycle, halted, by, s.halted, s.by)
				}
			}
		})
	}
}

func TestArgmaxInto(t *testing.T) {
	logits := []float32{
		0, 1, 1, // tie: the first wins
		5, 1, 2,
		-3, -2, -1,
	}
	dst := make([]int64, 3)
	changed := argmaxInto(dst, []int64{1, 1, 1}, logits, 3)
	if dst[0] != 1 || dst[1] != 0 || dst[2] != 2 || changed != 2 {
		t.Errorf("argmax %v, changed %d", dst, changed)
	}
}

func TestORTReason(t *testing.T) {
	raw := "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:1988 onnxruntime::Provider& " +
		"onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library " +
		"/x/libonnxruntime_providers_shared.so with error: No such file"
	if got := ortReason(errors.New(raw)); got != "Failed to load library /x/libonnxruntime_providers_shared.so with "+
		"error: No such file" {
		t.Errorf("got %q", got)
	}
	if got := ortReason(errors.New("plain message")); got != "plain message" {
		t.Errorf("got %q", got)
	}
}
