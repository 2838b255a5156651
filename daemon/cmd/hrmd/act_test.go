package main

import (
	"encoding/json"
	"fmt"
	"math"
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
	return solveFile(t, filepath.Join(arcDir, "training", id+".json"), append([]string{"--model", actBundle}, args...)...)
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

// `hrmd solve --trace raw` gives every cycle's argmax over all 900 cells,
// token ids as the model gave them, and its q_halt and q_continue unrounded:
// on every case of the act-v1 fixture they are PyTorch's, the argmax exactly
// and q within 1e-4, all 16 cycles (halting fixed, as sapient evaluates).
func TestSolveRawTrace(t *testing.T) {
	g := testenv.ReadGolden(t, actBundle)
	config := testOnlyConfig(t)
	for _, c := range g.Cases {
		t.Run(strings.Fields(c.Source)[1], func(t *testing.T) {
			var test int
			if _, err := fmt.Sscanf(strings.Fields(c.Source)[2], "test[%d]", &test); err != nil {
				t.Fatalf("source %q: %v", c.Source, err)
			}
			r := runHrmd(t, "solve", c.TaskFile(arcDir), "--model", actBundle, "--config", config, "--trace", "raw",
				"--halting", "fixed")
			if r.Code != 0 {
				t.Fatalf("exit %d, stderr %q", r.Code, r.Stderr)
			}
			var a puzzles.AnswerFile
			if err := json.Unmarshal([]byte(r.Stdout), &a); err != nil {
				t.Fatal(err)
			}
			trace := a.Answers[test].Trace
			if len(trace) != len(c.Cycles) {
				t.Fatalf("%d cycles traced, PyTorch %d", len(trace), len(c.Cycles))
			}
			for k, want := range c.Cycles {
				got := trace[k]
				if !slices.Equal(got.Tokens, want.Argmax) {
					t.Errorf("cycle %d: argmax differs from PyTorch's (%d cells, want %d)", k+1, len(got.Tokens),
						len(want.Argmax))
				}
				if len(got.HaltOutput) != 2 || math.Abs(float64(got.HaltOutput[0])-want.Q[0]) > 1e-4 ||
					math.Abs(float64(got.HaltOutput[1])-want.Q[1]) > 1e-4 {
					t.Errorf("cycle %d: q %v, PyTorch %v", k+1, got.HaltOutput, want.Q)
				}
			}
		})
	}
}

// A task the act-v1 model's puzzle table has no row for is said on stderr,
// naming the file and the puzzle; one it knows is not.
func TestSolveWarnsUnknownPuzzle(t *testing.T) {
	config := testOnlyConfig(t)
	for _, tt := range []struct {
		id      string
		unknown bool
	}{
		{"00d62c1b", true}, // not in the fixture's identifiers.json
		{"007bbfb7", false},
	} {
		task := filepath.Join(arcDir, "training", tt.id+".json")
		r := runHrmd(t, "solve", task, "--model", actBundle, "--config", config)
		if r.Code != 0 {
			t.Fatalf("%s: exit %d, stderr %q", tt.id, r.Code, r.Stderr)
		}
		events := cliEvents(r.Stderr, "unknown_puzzle")
		if !tt.unknown {
			if len(events) != 0 || r.Stderr != "" {
				t.Errorf("%s: stderr %q for a puzzle the table has", tt.id, r.Stderr)
			}
			continue
		}
		if len(events) != 1 || events[0]["file"] != task || fmt.Sprint(events[0]["puzzles"]) != "["+tt.id+"]" ||
			!strings.Contains(r.Stderr, task) || !strings.Contains(r.Stderr, tt.id) {
			t.Errorf("%s: stderr %q; want one unknown_puzzle warning naming %s and the puzzle", tt.id, r.Stderr, task)
		}
	}
}

// testOnlyConfig is an hrmd.yaml that runs the test inputs alone (no demo
// check: a task's demonstrations would cost these tests most of their time)
// on the CPU.
func testOnlyConfig(t *testing.T) string {
	t.Helper()
	config := filepath.Join(t.TempDir(), "hrmd.yaml")
	if err := os.WriteFile(config, []byte("onnxruntime: {providers: [cpu]}\ninference: {demo_check: false}\n"),
		0o644); err != nil {
		t.Fatal(err)
	}
	return config
}
