package answer

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/puzzles"
)

// Test-time augmentation with the raw encoding: each variant's prediction is
// decoded in its own frame (its size from the demonstrations turned the same
// way) and mapped back; variants that agree on the answer vote for it, and
// the size comes from a rule about the demonstrations (shape_inferred).
func TestAssembleRawVariants(t *testing.T) {
	b, err := bundle.Load(tinyBundle)
	if err != nil {
		t.Fatal(err)
	}
	b.Encoding = puzzles.EncodingRaw
	// Recolour 1 to 2 on 2x3 grids: every demonstration keeps its shape.
	task := puzzles.Task{ID: "raw",
		Train: []puzzles.Pair{{Input: puzzles.Grid{{1, 0, 0}, {0, 1, 0}}, Output: puzzles.Grid{{2, 0, 0}, {0, 2, 0}}}},
		Test:  []puzzles.Pair{{Input: puzzles.Grid{{0, 0, 1}, {1, 1, 0}}}},
	}
	want := puzzles.Grid{{0, 0, 2}, {2, 2, 0}}
	rows, err := Plan(task, "", b, Options{Augmentations: 7})
	if err != nil {
		t.Fatal(err)
	}
	results := make([]engine.RowResult, len(rows))
	for i, r := range rows {
		// What a model that knows the rule predicts for the variant: the
		// answer in the variant's frame; variant 5 gets it wrong.
		answer := r.aug.Apply(want)
		if r.variant == 5 {
			answer = r.aug.Apply(puzzles.Grid{{9, 9, 9}, {9, 9, 9}})
		}
		results[i] = engine.RowResult{
			Cycles:   3,
			HaltedBy: "model",
			Halt:     0.9,
			Tokens:   make([]int64, b.Manifest.Grid*b.Manifest.Grid),
		}
		b.Encoding.Encode(answer, b.Manifest.Grid, results[i].Tokens)
	}
	out, err := Assembler{Bundle: b}.Assemble(task, rows, results, time.Millisecond, Options{Augmentations: 7})
	if err != nil {
		t.Fatal(err)
	}
	a := out.Answers[0]
	if !a.Attempt1.Equal(want) || a.Votes == nil || a.Votes.Attempt1 != 7 || a.Votes.Attempt2 != 1 ||
		a.Votes.Variants != 8 {
		t.Fatalf("attempt_1 %v with votes %+v; want %v with 7 of 8", a.Attempt1, a.Votes, want)
	}
	if !a.Attempt2.Equal(puzzles.Grid{{9, 9, 9}, {9, 9, 9}}) {
		t.Errorf("attempt_2 %v, want the one dissenting answer", a.Attempt2)
	}
	if a.Shape != puzzles.ShapeSameAsInput || !slices.Contains(a.Flags, puzzles.FlagShapeInferred) {
		t.Errorf("shape %s, flags %v; want same_as_input and shape_inferred", a.Shape, a.Flags)
	}
	// halt 0.9, no demo check (1/2), 7 of 8 votes.
	if a.Confidence != puzzles.Confidence(0.9, nil, a.Votes) || a.Confidence != 0.3938 {
		t.Errorf("confidence %v, want 0.9 x 1/2 x 7/8 = 0.3938", a.Confidence)
	}
}

// A task the puzzle table has no row for is flagged unknown_puzzle, and its
// confidence is half what it would be.
func TestAssembleUnknownPuzzle(t *testing.T) {
	idx, err := bundle.NewPuzzleIndex([]string{bundle.BlankPuzzle, "known"}, 4)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle.Bundle{Manifest: bundle.Manifest{Grid: 5}, Puzzles: idx, Encoding: puzzles.EncodingRaw}
	g := puzzles.Grid{{1, 2}, {0, 1}}
	confidence := map[string]float64{}
	for _, id := range []string{"known", "stranger"} {
		task := puzzles.Task{ID: id, Train: []puzzles.Pair{{Input: g, Output: g}}, Test: []puzzles.Pair{{Input: g}}}
		rows, err := Plan(task, "", b, Options{})
		if err != nil {
			t.Fatal(err)
		}
		tokens := make([]int64, 25)
		b.Encoding.Encode(g, 5, tokens)
		results := []engine.RowResult{{Cycles: 16, HaltedBy: "max_cycles", Halt: 0.8, Tokens: tokens}}
		out, err := Assembler{Bundle: b}.Assemble(task, rows, results, time.Millisecond, Options{})
		if err != nil {
			t.Fatal(err)
		}
		a := out.Answers[0]
		confidence[id] = a.Confidence
		if flagged := slices.Contains(a.Flags, puzzles.FlagUnknownPuzzle); flagged != (id == "stranger") {
			t.Errorf("%s: flags %v", id, a.Flags)
		}
	}
	if confidence["stranger"] != confidence["known"]/2 || confidence["known"] == 0 {
		t.Errorf("confidence %v, want the stranger's half the known's", confidence)
	}
}

// A raw trace carries every cycle's tokens as the model gave them and its
// halt output to the bit (float32 read back exactly); the others carry
// neither.
func TestAssembleRawTrace(t *testing.T) {
	b, err := bundle.Load(tinyBundle)
	if err != nil {
		t.Fatal(err)
	}
	task := puzzles.Task{ID: "raw", Test: []puzzles.Pair{{Input: puzzles.Grid{{1, 2}, {3, 4}}}}}
	rows, err := Plan(task, "", b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tokens := make([]int64, b.Manifest.Grid*b.Manifest.Grid)
	b.Encoding.Encode(puzzles.Grid{{5, 6}, {7, 8}}, b.Manifest.Grid, tokens)
	// Values a decimal rounding would lose: the golden file's first q_halt,
	// 0.1 (not a float32), the smallest float32 and one just below 1.
	out := []float32{float32(-4.735283851623535), 0.1, math.SmallestNonzeroFloat32, math.Nextafter32(1, 0)}
	result := engine.RowResult{Cycles: 1, HaltedBy: "model", Halt: 0.5, Tokens: tokens,
		Trace: []engine.CycleTrace{{Cycle: 1, Halt: 0.5, Changed: 4, Tokens: tokens, HaltOut: out}}}
	for _, raw := range []bool{true, false} {
		opts := Options{Trace: true, RawTrace: raw}
		a, err := Assembler{Bundle: b}.Assemble(task, rows, []engine.RowResult{result}, time.Millisecond, opts)
		if err != nil {
			t.Fatal(err)
		}
		data, err := puzzles.MarshalAnswers([]puzzles.AnswerFile{a}, false)
		if err != nil {
			t.Fatal(err)
		}
		var back puzzles.AnswerFile
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		c := back.Answers[0].Trace[0]
		if !raw {
			if c.Tokens != nil || c.HaltOutput != nil {
				t.Errorf("trace full: tokens %v, halt_output %v; want neither", c.Tokens, c.HaltOutput)
			}
			continue
		}
		if !slices.Equal(c.Tokens, tokens) {
			t.Errorf("tokens %v, want the model's %v", c.Tokens, tokens)
		}
		if !slices.Equal(c.HaltOutput, out) {
			t.Errorf("halt_output %v read back from %s, want %v exactly", c.HaltOutput, data, out)
		}
	}
}
