package main

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/puzzles"
)

// sapientGolden is a parity fixture's sapient_golden.json: sapientinc/HRM's own
// HierarchicalReasoningModel_ACTV1 run on each input, every step's argmax and
// q logits (engine/export/sapient_parity.py wrote it).
type sapientGolden struct {
	Format string
	Task   string
	Cases  []struct {
		Source string // "testdata/sudoku/seed1-blanks24.json test[0].input"
		Tokens []int64
		Steps  []struct {
			Argmax []int64
			Q      []float64
		}
	}
}

// sapientQTolerance is how far hrmd's q may be from theirs: both fp32, one
// rounding apart at the first step, which the fixtures' recurrences keep
// below 5e-5 over 16 steps (engine/testdata/sapient-*/README.md).
const sapientQTolerance = 1e-4

// `hrmd solve` of the Sudokus and mazes, through the bundles exported from
// checkpoints of sapientinc/HRM's own class, is their forward: every step's
// argmax over every cell equal and q within 1e-4 with --trace raw and
// --halting fixed (their evaluation's 16 steps); under the model's own
// halting, hrmd stops at the first step where their q_halt > q_continue.
func TestSolveMatchesSapientClass(t *testing.T) {
	for _, name := range []string{"sapient-sudoku-tiny", "sapient-sudoku-learned-tiny", "sapient-maze-tiny"} {
		dir := filepath.Join(repoRoot, "engine", "testdata", name)
		var g sapientGolden
		testenv.ReadJSON(t, filepath.Join(dir, "sapient_golden.json"), &g)
		if g.Format != "hrmd-sapient-golden/1" || len(g.Cases) == 0 {
			t.Fatalf("%s: format %q, %d cases", name, g.Format, len(g.Cases))
		}
		bundle := filepath.Join(dir, "bundle")
		for _, c := range g.Cases {
			file := filepath.Join(repoRoot, strings.Fields(c.Source)[0])
			t.Run(name+"/"+filepath.Base(file), func(t *testing.T) {
				a := solveAnswer(t, file, "--model", bundle, "--trace", "raw", "--halting", "fixed")
				if len(a.Trace) != len(c.Steps) {
					t.Fatalf("%d cycles traced, theirs %d", len(a.Trace), len(c.Steps))
				}
				halt := 0
				for k, want := range c.Steps {
					got := a.Trace[k]
					if !slices.Equal(got.Tokens, want.Argmax) {
						t.Errorf("step %d: argmax differs from theirs (%d cells, want %d)", k+1, len(got.Tokens),
							len(want.Argmax))
					}
					if len(got.HaltOutput) != 2 || math.Abs(float64(got.HaltOutput[0])-want.Q[0]) > sapientQTolerance ||
						math.Abs(float64(got.HaltOutput[1])-want.Q[1]) > sapientQTolerance {
						t.Errorf("step %d: q %v, theirs %v", k+1, got.HaltOutput, want.Q)
					}
					if halt == 0 && want.Q[0] > want.Q[1] {
						halt = k + 1
					}
				}
				wantBy := "model"
				if halt == 0 {
					halt, wantBy = len(c.Steps), "max_cycles"
				}
				if own := solveAnswer(t, file, "--model", bundle); own.Cycles != halt || own.HaltedBy != wantBy {
					t.Errorf("halted at step %d by %s; theirs: q_halt > q_continue first at %d (%s)", own.Cycles,
						own.HaltedBy, halt, wantBy)
				}
			})
		}
	}
}

// solveAnswer runs `hrmd solve` on a one-test task file and returns its answer.
func solveAnswer(t *testing.T, file string, args ...string) puzzles.Answer {
	t.Helper()
	a := solveFile(t, file, args...)
	if len(a.Answers) != 1 {
		t.Fatalf("%d answers, want 1", len(a.Answers))
	}
	return a.Answers[0]
}
