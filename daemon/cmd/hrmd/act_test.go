package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/puzzles"
)

// solveAct runs `hrmd solve` on an ARC-AGI-1 training task with the tiny
// act-v1 bundle and returns its answer file.
func solveAct(t *testing.T, id string, args ...string) puzzles.AnswerFile {
	t.Helper()
	r := runHrmd(
		t,
		append([]string{"solve", filepath.Join(arcDir, "training", id+".json"), "--model", actBundle}, args...)...)
	if r.Code != 0 {
		t.Fatalf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	var a puzzles.AnswerFile
	if err := json.Unmarshal([]byte(r.Stdout), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// `hrmd solve` answers a real ARC task with the tiny act-v1 bundle through
// the task's own puzzle row, exactly as the PyTorch reference does; a task
// the table does not know runs with the blank row and says so.
func TestSolveActV1(t *testing.T) {
	g := testenv.ReadGolden(t, actBundle)
	i := slices.IndexFunc(g.Cases, func(c testenv.GoldenCase) bool { return c.Puzzle == "007bbfb7" })
	if i < 0 {
		t.Fatal("the golden file has no case of 007bbfb7")
	}
	c := g.Cases[i]
	a := solveAct(t, "007bbfb7")
	got := a.Answers[0]
	if !got.Attempt1.Equal(puzzles.Grid(c.Decoded)) || got.Cycles != c.HaltCycle || got.HaltedBy != c.HaltedBy {
		t.Errorf(
			"attempt_1 %v after %d cycles (%s); PyTorch %v after %d (%s)",
			got.Attempt1,
			got.Cycles,
			got.HaltedBy,
			c.Decoded,
			c.HaltCycle,
			c.HaltedBy,
		)
	}
	if a.Model.Family != "act-v1" || slices.Contains(got.Flags, puzzles.FlagUnknownPuzzle) {
		t.Errorf("family %q, flags %v", a.Model.Family, got.Flags)
	}

	stranger := solveAct(t, "00d62c1b") // not in the fixture's identifiers.json
	for _, ans := range stranger.Answers {
		if !slices.Contains(ans.Flags, puzzles.FlagUnknownPuzzle) {
			t.Errorf("an unknown puzzle's answer has flags %v", ans.Flags)
		}
	}
}

// With augmentations the model's own variants of the task vote: 007bbfb7
// has two in the fixture's table, so three rows vote (the task and both).
func TestSolveActV1Votes(t *testing.T) {
	config := filepath.Join(t.TempDir(), "hrmd.yaml")
	if err := os.WriteFile(config, []byte("inference: {augmentations: 4}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := solveAct(t, "007bbfb7", "--config", config)
	if v := a.Answers[0].Votes; v == nil || v.Variants != 3 {
		t.Errorf("votes %+v, want 3 variants: the task's own row and its two augmentations", v)
	}
	r, rep := runEval(t, filepath.Join(arcDir, "training", "007bbfb7.json"), "--model", actBundle, "--config", config)
	if rep.Totals.Model.Tasks != 1 || !strings.Contains(r.Stdout, "summary:") {
		t.Errorf("eval with augmentations: %+v\n%s", rep.Totals, r.Stdout)
	}
}
