package daemon

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hrmd/hrmd/puzzles"
)

const zeroBundle = "../engine/testdata/nova-zero" // nova-tiny with its output forced to colour 0

// A model that answers zeros whatever it is shown ("Agent Zero") is caught by
// the probe at load: solve and the daemon flag every answer, doctor warns,
// and with inference.input_invariant: refuse neither serves it.
func TestInputInvariantModel(t *testing.T) {
	task := filepath.Join(arcDir, "training", "3631a71a.json")
	r := runHrmd(t, "solve", task, "--model", zeroBundle)
	if r.code != 0 || !strings.Contains(r.stderr, "do not depend on its input") {
		t.Fatalf("exit %d, stderr %q; want an answer and a warning", r.code, r.stderr)
	}
	var a puzzles.AnswerFile
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{puzzles.FlagModelInputInvariant, puzzles.FlagAllZero, puzzles.FlagLowConfidence} {
		if !slices.Contains(a.Answers[0].Flags, f) {
			t.Errorf("flags %v lack %s", a.Answers[0].Flags, f)
		}
	}

	dir := t.TempDir()
	refuse := filepath.Join(dir, "refuse.yaml")
	if err := os.WriteFile(refuse, []byte("model: "+zeroBundle+"\nonnxruntime: {providers: [cpu]}\ninference: {input_invariant: refuse}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runHrmd(t, "solve", task, "--config", refuse)
	if r.code != 1 || !strings.Contains(r.stderr, "error "+CodeInputInvariant+": model nova-zero") || r.stdout != "" {
		t.Errorf("refuse: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// The daemon: warned at load, every answer flagged.
	s := newSpool(t, func(c *Config) { c.Model, _ = filepath.Abs(zeroBundle); c.Inference.MaxCycles = 2 })
	p := s.start()
	p.waitLog("the model's predictions do not depend on its input; every answer is flagged model_input_invariant", 1, 30*time.Second)
	p.waitLog("ready", 1, 30*time.Second)
	data, err := os.ReadFile(task)
	if err != nil {
		t.Fatal(err)
	}
	s.drop("t.json", data)
	waitUntil(t, 20*time.Second, "the answer", func() bool { return slices.Contains(names(s.outbox), "t.json") })
	var answer puzzles.AnswerFile
	mustJSON(t, filepath.Join(s.outbox, "t.json"), &answer)
	if !slices.Contains(answer.Answers[0].Flags, puzzles.FlagModelInputInvariant) {
		t.Errorf("the daemon's answer is not flagged: %v", answer.Answers[0].Flags)
	}
}

func TestDoctorInputInvariant(t *testing.T) {
	for _, tt := range []struct {
		mode string
		code int
		want string
	}{
		{"warn", 0, "warn  input probe  the model gives one identical answer to 4 different grids"},
		{"refuse", 1, "FAIL  input probe  the model gives one identical answer to 4 different grids"},
	} {
		dir, config := doctorSetup(t, func(c *Config) { c.Inference.InputInvariant = tt.mode })
		replaceModel(t, dir, zeroBundle)
		r := runDoctor(t, "--config", config)
		if r.code != tt.code || !strings.Contains(r.stdout, tt.want) {
			t.Errorf("%s: exit %d, want %d and %q:\n%s", tt.mode, r.code, tt.code, tt.want, r.stdout)
		}
	}
	// A trained model passes.
	dir, config := doctorSetup(t, nil)
	replaceModel(t, dir, "../engine/models/demo")
	if r := runDoctor(t, "--config", config); !strings.Contains(r.stdout, "ok    input probe  the model's answers depend on its input") {
		t.Errorf("the demo model:\n%s", r.stdout)
	}
}

// replaceModel puts the bundle src where doctorSetup put its model.
func replaceModel(t *testing.T, dir, src string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(dir, "model")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "model"), os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

// pictureShows decodes a PNG and checks the grid drawn at row i, panel j of
// the layout rows against want, cell by cell.
func pictureShows(t *testing.T, path string, rows [][]puzzles.Grid, i, j int, want puzzles.Grid) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	corners, width, height := puzzles.Layout(rows)
	if img.Bounds().Dx() != width || img.Bounds().Dy() != height {
		t.Fatalf("%s is %v, the layout %dx%d", path, img.Bounds(), width, height)
	}
	for r, cells := range want {
		for c, v := range cells {
			x, y := puzzles.CellOrigin(corners[i][j].X, corners[i][j].Y, r, c)
			cr, cg, cb, _ := img.At(x+8, y+8).RGBA()
			if w := puzzles.Colour(v); uint8(cr>>8) != w.R || uint8(cg>>8) != w.G || uint8(cb>>8) != w.B {
				t.Fatalf("%s: panel (%d,%d) cell (%d,%d) is not colour %d", path, i, j, r, c, v)
			}
		}
	}
}

// answers.png and answers.trace: the daemon writes outbox/<name>.png beside
// the answer, showing the input, the answer, the known output and one row
// per cycle; `hrmd solve --png` draws the same.
func TestAnswerPictures(t *testing.T) {
	task, err := puzzles.ReadFile("../puzzles/examples/halo-1.json", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../puzzles/examples/halo-1.json")
	if err != nil {
		t.Fatal(err)
	}
	demo, err := filepath.Abs("../engine/models/demo")
	if err != nil {
		t.Fatal(err)
	}
	// With test-time augmentation too: the daemon's batches carry the
	// variants, and the answer keeps the input's own trace.
	s := newSpool(t, func(c *Config) {
		c.Model = demo
		c.Answers = AnswersConfig{Trace: "full", PNG: true}
		c.Inference.Augmentations = 3
	})
	p := s.start()
	p.waitLog("ready", 1, 30*time.Second)
	s.drop("halo.json", data)
	waitUntil(t, 20*time.Second, "the answer", func() bool { return slices.Contains(names(s.outbox), "halo.json") })
	if !slices.Contains(names(s.outbox), "halo.png") {
		t.Fatalf("outbox %v: no halo.png", names(s.outbox))
	}
	var answer puzzles.AnswerFile
	mustJSON(t, filepath.Join(s.outbox, "halo.json"), &answer)
	a := answer.Answers[0]
	if len(a.Trace) == 0 || a.Trace[len(a.Trace)-1].Grid == nil {
		t.Fatalf("no full trace in the answer: %+v", a.Trace)
	}
	if a.Votes == nil || a.Votes.Variants != 4 || !a.Attempt1.Equal(task.Tasks[0].Test[0].Output) {
		t.Errorf("votes %+v, attempt_1 %v; want 4 variants voting the known answer", a.Votes, a.Attempt1)
	}
	if cycles, _ := p.waitLog("answered", 1, 5*time.Second)["cycles"].([]any); len(cycles) != 1 {
		t.Errorf("the answered log line lists cycles %v; want the one test input's, not its variants'", cycles)
	}
	rows := puzzles.AnswerPicture(task.Tasks[0], answer)
	if len(rows) != 1+len(a.Trace) {
		t.Fatalf("%d picture rows for %d cycles", len(rows), len(a.Trace))
	}
	pictureShows(t, filepath.Join(s.outbox, "halo.png"), rows, 0, 0, task.Tasks[0].Test[0].Input)
	pictureShows(t, filepath.Join(s.outbox, "halo.png"), rows, 0, 1, a.Attempt1)
	// The known output is the row's last panel (after attempt_2, when the
	// vote had a runner-up).
	pictureShows(t, filepath.Join(s.outbox, "halo.png"), rows, 0, len(rows[0])-1, task.Tasks[0].Test[0].Output)
	if !a.Attempt2.Equal(a.Attempt1) {
		pictureShows(t, filepath.Join(s.outbox, "halo.png"), rows, 0, 2, a.Attempt2)
	}
	pictureShows(t, filepath.Join(s.outbox, "halo.png"), rows, len(rows)-1, 0, a.Trace[len(a.Trace)-1].Grid)

	out := filepath.Join(t.TempDir(), "solve.png")
	r := runHrmd(t, "solve", "../puzzles/examples/halo-1.json", "--model", demo, "--png", out)
	if r.code != 0 {
		t.Fatalf("solve --png: exit %d: %s", r.code, r.stderr)
	}
	var solved puzzles.AnswerFile
	if err := json.Unmarshal([]byte(r.stdout), &solved); err != nil {
		t.Fatal(err)
	}
	rows = puzzles.AnswerPicture(task.Tasks[0], solved)
	pictureShows(t, out, rows, 0, 1, solved.Answers[0].Attempt1)
}

// Test-time augmentation: each test input runs in 8 orientations, the
// answers mapped back vote, and the demo model's family (a rule that holds in
// every orientation) keeps its exact answers, now with their votes.
func TestSolveWithAugmentations(t *testing.T) {
	config := filepath.Join(t.TempDir(), "tta.yaml")
	if err := os.WriteFile(config, []byte("model: ../engine/models/demo\nonnxruntime: {providers: [cpu]}\ninference: {augmentations: 7}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"halo-1.json", "halo-4.json"} {
		path := filepath.Join("../puzzles/examples", name)
		task, err := puzzles.ReadFile(path, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var first []byte
		for run := range 2 {
			r := runHrmd(t, "solve", path, "--config", config)
			if r.code != 0 {
				t.Fatalf("%s: exit %d: %s", name, r.code, r.stderr)
			}
			var a puzzles.AnswerFile
			if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
				t.Fatal(err)
			}
			got := a.Answers[0]
			if got.Votes == nil || got.Votes.Variants != 8 || got.Votes.Attempt1 < got.Votes.Attempt2 || got.Votes.Attempt1 > 8 {
				t.Errorf("%s: votes %+v, want 8 variants with attempt_1 ahead", name, got.Votes)
			}
			if !got.Attempt1.Equal(task.Tasks[0].Test[0].Output) {
				t.Errorf("%s: attempt_1 %v is not the known answer", name, got.Attempt1)
			}
			// Deterministic: the same answer file twice, but for the latency.
			stable := []byte(strings.Join(slices.DeleteFunc(strings.Split(r.stdout, "\n"), func(l string) bool { return strings.Contains(l, "latency_ms") }), "\n"))
			if run == 0 {
				first = stable
			} else if string(first) != string(stable) {
				t.Errorf("%s: two runs answer differently:\n%s\n%s", name, first, stable)
			}
		}
	}
}
