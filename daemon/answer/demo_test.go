package answer

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/puzzles"
)

// solveFamily answers count fresh halo puzzles (a generator and seed the
// training never used) and counts the exact answers and those the model
// halted itself, with the first miss for the log.
func solveFamily(t *testing.T, s *Solver, count int) (solved, haltedByModel int, firstWrong string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(2026, 11))
	for range count {
		in := puzzles.Grid(testenv.HaloInput(rng))
		task := puzzles.Task{ID: "halo", Test: []puzzles.Pair{{Input: in}}}
		answers, err := s.Solve(context.Background(), &puzzles.File{Tasks: []puzzles.Task{task}})
		if err != nil {
			t.Fatal(err)
		}
		a := answers[0].Answers[0]
		if a.Attempt1.Equal(testenv.Halo(in)) {
			solved++
		} else if firstWrong == "" {
			firstWrong = "puzzle " + in.Size() + " answered " + a.Attempt1.Size()
		}
		if a.HaltedBy == "model" {
			haltedByModel++
		}
	}
	return solved, haltedByModel, firstWrong
}

// The demo bundle really learned its family: on 200 fresh puzzles it answers
// at least 90% exactly, halting on its own, through the same engine and
// decoding as the daemon.
func TestDemoBundleSolvesItsFamily(t *testing.T) {
	s := solverFor(t, cpuRuntime(t), demoBundle, 4, Options{})
	const count = 200
	solved, haltedByModel, firstWrong := solveFamily(t, s, count)
	t.Logf(
		"demo bundle: %d/%d fresh halo puzzles exact, %d halted by the model; first miss: %s",
		solved,
		count,
		haltedByModel,
		firstWrong,
	)
	if solved < count*9/10 {
		t.Errorf("solved %d/%d fresh halo puzzles exactly; the demo bundle must solve at least 90%%", solved, count)
	}

	// Test-time augmentation with the three turns: the halo rule holds in
	// every orientation, so the vote must not lose any of those puzzles, and
	// it outvotes the model's orientation-dependent slips (measured: 190 -> 200).
	s.Options.Augmentations = 3
	voted, _, firstWrong := solveFamily(t, s, count)
	t.Logf("with augmentations 3: %d/%d exact; first miss: %s", voted, count, firstWrong)
	if voted < solved || voted < count*95/100 {
		t.Errorf(
			"with test-time augmentation %d/%d exact, without %d: the vote must do at least as well, and 95%%",
			voted,
			count,
			solved,
		)
	}
}

// The example puzzles are of the family (their known answers follow the rule),
// and the demo bundle answers every one of them exactly, demo pairs included.
// The real ARC-AGI-1 task the demo drops is not of the family: its answer is
// wrong, and the demo check says so (no demo pair solved).
func TestDemoExamples(t *testing.T) {
	s := solverFor(t, cpuRuntime(t), demoBundle, 4, Options{DemoCheck: true})
	examples, err := filepath.Glob(filepath.Join("..", "..", "puzzles", "examples", "*.json"))
	if err != nil || len(examples) < 3 {
		t.Fatalf("want at least 3 example puzzles in puzzles/examples, found %d (%v)", len(examples), err)
	}
	for _, path := range examples {
		file, err := puzzles.ReadFile(path, puzzles.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		task := file.Tasks[0]
		for i, p := range append(append([]puzzles.Pair{}, task.Train...), task.Test...) {
			if p.Output == nil || !p.Output.Equal(testenv.Halo(p.Input)) {
				t.Errorf("%s: pair %d's output is not the halo rule applied to its input", path, i)
			}
		}
		answers, err := s.Solve(context.Background(), file)
		if err != nil {
			t.Fatal(err)
		}
		a := answers[0]
		if !a.Answers[0].Attempt1.Equal(task.Test[0].Output) || a.DemoCheck.Solved != a.DemoCheck.Pairs {
			t.Errorf(
				"%s: answer %s (want %s), demos solved %d/%d",
				path,
				a.Answers[0].Attempt1.Size(),
				task.Test[0].Output.Size(),
				a.DemoCheck.Solved,
				a.DemoCheck.Pairs,
			)
		}
	}

	file, err := puzzles.ReadFile(filepath.Join(testenv.ARCDir(t), "training", "007bbfb7.json"), puzzles.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	answers, err := s.Solve(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	a := answers[0]
	if a.Answers[0].Attempt1.Equal(file.Tasks[0].Test[0].Output) || a.DemoCheck.Solved != 0 {
		t.Errorf(
			"007bbfb7: the demo model should fail a task outside its family; answer %s, demos solved %d/%d",
			a.Answers[0].Attempt1.Size(),
			a.DemoCheck.Solved,
			a.DemoCheck.Pairs,
		)
	}
}

func TestDemoBundleSize(t *testing.T) {
	var total int64
	entries, err := os.ReadDir(demoBundle)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		total += info.Size()
	}
	if total >= 5<<20 {
		t.Errorf("engine/models/demo holds %d bytes; the committed demo must stay under 5 MB", total)
	}
}
