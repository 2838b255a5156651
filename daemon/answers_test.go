package daemon_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/puzzles"
)

// A model that answers zeros whatever it is shown ("Agent Zero") is caught by
// the probe when the daemon loads it: a warning, and every answer flagged
// (solve's side is TestSolveInputInvariantModel).
func TestRunInputInvariantModel(t *testing.T) {
	s := newSpool(t, func(c *config.Config) { c.Model, _ = filepath.Abs(zeroBundle); c.Inference.MaxCycles = 2 })
	p := s.startInProcess()
	p.WaitEvent("input_invariant", 1, 60*time.Second)
	p.WaitEvent("ready", 1, 60*time.Second)
	data, err := os.ReadFile(filepath.Join(testenv.ARCDir(t), "training", "3631a71a.json"))
	if err != nil {
		t.Fatal(err)
	}
	s.drop("t.json", data)
	testenv.WaitFor(t, 20*time.Second, "the answer", func() bool {
		return slices.Contains(testenv.Names(s.outbox), "t.json")
	})
	var answer puzzles.AnswerFile
	testenv.ReadJSON(t, filepath.Join(s.outbox, "t.json"), &answer)
	if !slices.Contains(answer.Answers[0].Flags, puzzles.FlagModelInputInvariant) {
		t.Errorf("the daemon's answer is not flagged: %v", answer.Answers[0].Flags)
	}
}

// pictureShows decodes a PNG and checks the panel drawn at row i, panel j of
// the layout rows: its grid against want, cell by cell, under its caption.
func pictureShows(t *testing.T, path string, rows [][]puzzles.Panel, i, j int, want puzzles.Grid) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	corners, width, height := puzzles.Layout(rows)
	img := testenv.DecodePNG(t, data, width, height)
	for r, cells := range want {
		for c, v := range cells {
			x, y := puzzles.CellOrigin(corners[i][j].X, corners[i][j].Y, r, c)
			cr, cg, cb, _ := img.At(x+8, y+8).RGBA()
			if w := puzzles.Colour(v); uint8(cr>>8) != w.R || uint8(cg>>8) != w.G || uint8(cb>>8) != w.B {
				t.Fatalf("%s: panel (%d,%d) cell (%d,%d) is not colour %d", path, i, j, r, c, v)
			}
		}
	}
	testenv.ShowsCaption(t, img, puzzles.CaptionOrigin(corners[i][j]), rows[i][j].Caption)
}

// answers.png and answers.trace: the daemon writes outbox/<name>.png beside
// the answer, showing the demonstrations, the input, the answer, the known
// output and one row per cycle, each captioned; `hrmd solve --png` draws the same.
func TestAnswerPictures(t *testing.T) {
	task, err := puzzles.ReadFile("../puzzles/examples/halo-1.json", puzzles.Limits{Bytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../puzzles/examples/halo-1.json")
	if err != nil {
		t.Fatal(err)
	}
	demo, err := filepath.Abs(demoBundle)
	if err != nil {
		t.Fatal(err)
	}
	// With test-time augmentation too: the daemon's batches carry the
	// variants, and the answer keeps the input's own trace.
	s := newSpool(t, func(c *config.Config) {
		c.Model = demo
		c.Answers = config.Answers{Trace: "full", PNG: true}
		c.Inference.Augmentations = 3
	})
	p := s.start()
	p.WaitEvent("ready", 1, 60*time.Second)
	s.drop("halo.json", data)
	testenv.WaitFor(t, 20*time.Second, "the answer", func() bool {
		return slices.Contains(testenv.Names(s.outbox), "halo.json")
	})
	if !slices.Contains(testenv.Names(s.outbox), "halo.png") {
		t.Fatalf("outbox %v: no halo.png", testenv.Names(s.outbox))
	}
	var answer puzzles.AnswerFile
	testenv.ReadJSON(t, filepath.Join(s.outbox, "halo.json"), &answer)
	a := answer.Answers[0]
	if len(a.Trace) == 0 || a.Trace[len(a.Trace)-1].Grid == nil {
		t.Fatalf("no full trace in the answer: %+v", a.Trace)
	}
	if a.Votes == nil || a.Votes.Variants != 4 || !a.Attempt1.Equal(task.Tasks[0].Test[0].Output) {
		t.Errorf("votes %+v, attempt_1 %v; want 4 variants voting the known answer", a.Votes, a.Attempt1)
	}
	if cycles, _ := p.WaitEvent("answered", 1, 60*time.Second).Fields["cycles"].([]any); len(cycles) != 1 {
		t.Errorf("the answered log line lists cycles %v; want the one test input's, not its variants'", cycles)
	}
	rows := puzzles.AnswerPicture(task.Tasks[0], answer)
	demos := len(task.Tasks[0].Train)
	if len(rows) != demos+1+len(a.Trace) {
		t.Fatalf("%d picture rows for %d demonstrations and %d cycles", len(rows), demos, len(a.Trace))
	}
	pictureShows(t, filepath.Join(s.outbox, "halo.png"), rows, 0, 1, task.Tasks[0].Train[0].Output)
	pictureShows(t, filepath.Join(s.outbox, "halo.png"), rows, demos, 0, task.Tasks[0].Test[0].Input)
	pictureShows(t, filepath.Join(s.outbox, "halo.png"), rows, demos, 1, a.Attempt1)
	// The known output is the row's last panel (after attempt_2, when the
	// vote had a runner-up).
	pictureShows(t, filepath.Join(s.outbox, "halo.png"), rows, demos, len(rows[demos])-1, task.Tasks[0].Test[0].Output)
	if !a.Attempt2.Equal(a.Attempt1) {
		pictureShows(t, filepath.Join(s.outbox, "halo.png"), rows, demos, 2, a.Attempt2)
	}
	pictureShows(t, filepath.Join(s.outbox, "halo.png"), rows, len(rows)-1, 0, a.Trace[len(a.Trace)-1].Grid)

	out := filepath.Join(t.TempDir(), "solve.png")
	r := runHrmd(t, "solve", "../puzzles/examples/halo-1.json", "--model", demo, "--png", out)
	if r.Code != 0 {
		t.Fatalf("solve --png: exit %d: %s", r.Code, r.Stderr)
	}
	var solved puzzles.AnswerFile
	if err := json.Unmarshal([]byte(r.Stdout), &solved); err != nil {
		t.Fatal(err)
	}
	rows = puzzles.AnswerPicture(task.Tasks[0], solved)
	pictureShows(t, out, rows, demos, 1, solved.Answers[0].Attempt1)
}
