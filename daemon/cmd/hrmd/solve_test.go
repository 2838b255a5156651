package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/puzzles"
)

// `hrmd solve` on the real ARC tasks of the golden file answers exactly what
// the PyTorch reference predicts for them.
func TestSolveMatchesPyTorch(t *testing.T) {
	g := testenv.ReadGolden(t, tinyBundle)
	for _, c := range g.Cases {
		rel := strings.Fields(c.Source)[1]
		t.Run(rel, func(t *testing.T) {
			r := runHrmd(t, "solve", c.TaskFile(arcDir), "--model", tinyBundle)
			// Random weights: the probe's first cycles differ from grid to grid
			// (only the eighth gives them all no grid), and nothing is said.
			if r.Code != 0 || r.Stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.Code, r.Stderr)
			}
			var a puzzles.AnswerFile
			if err := json.Unmarshal([]byte(r.Stdout), &a); err != nil {
				t.Fatal(err)
			}
			got := a.Answers[0]
			decoded := puzzles.Grid(c.Decoded)
			if !got.Attempt1.Equal(decoded) || !got.Attempt2.Equal(decoded) || got.Attempt1 == nil {
				t.Errorf("attempt_1 %v, PyTorch %v", got.Attempt1, decoded)
			}
			if got.Cycles != c.HaltCycle || got.HaltedBy != c.HaltedBy || got.Shape != puzzles.ShapeEOS {
				t.Errorf("%d cycles by %s (%s), PyTorch %d by %s", got.Cycles, got.HaltedBy, got.Shape, c.HaltCycle, c.HaltedBy)
			}
			if want := c.Cycles[c.HaltCycle-1].Halt; got.Halt < want-1e-4 || got.Halt > want+1e-4 {
				t.Errorf("halt %g, want the last halt value %g", got.Halt, want)
			}
			if a.DemoCheck == nil || got.Confidence != puzzles.Confidence(got.Halt, a.DemoCheck, nil) {
				t.Errorf("confidence %g from halt %g and demo_check %+v", got.Confidence, got.Halt, a.DemoCheck)
			}
			// The random tiny model solves no example: every answer is low.
			if noGrid := len(c.Decoded) == 0; noGrid != slices.Contains(got.Flags, puzzles.FlagNoGrid) ||
				!slices.Contains(got.Flags, puzzles.FlagLowConfidence) ||
				slices.Contains(got.Flags, puzzles.FlagModelInputInvariant) {
				t.Errorf("flags %v for a %s prediction", got.Flags, decoded.Size())
			}
			if a.Task != strings.TrimSuffix(filepath.Base(rel), ".json") ||
				a.Model.Name != "nova-tiny" || len(a.Model.SHA256) != 64 ||
				a.Runtime.Provider != "CPUExecutionProvider" || a.Runtime.Precision != "fp32" ||
				a.Runtime.Device == "" || a.Runtime.LatencyMS <= 0 {
				t.Errorf("answer file: %+v", a)
			}
			if a.DemoCheck == nil || a.DemoCheck.Pairs == 0 {
				t.Errorf("demo_check %+v", a.DemoCheck)
			}
		})
	}
}

func TestSolveOptions(t *testing.T) {
	task := filepath.Join(arcDir, "training", "007bbfb7.json")
	a := solveFile(t, task, "--max-cycles", "3", "--halting", "fixed", "--trace", "full", "--model", tinyBundle)
	ans := a.Answers[0]
	if ans.Cycles != 3 || ans.HaltedBy != "fixed" || len(ans.Trace) != 3 || !ans.Trace[2].Grid.Equal(ans.Attempt1) ||
		ans.Trace[0].Changed == 0 {
		t.Errorf("answer %+v", ans)
	}

	// A multi-task bundle is answered task by task, keyed and ordered as given.
	bundle := filepath.Join(t.TempDir(), "challenges.json")
	tasks := `{"second":{"test":[{"input":[[1,2],[3,4]]}]},` +
		`"first":{"train":[{"input":[[1]],"output":[[2]]}],"test":[{"input":[[5]]},{"input":[[6,7]]}]}}`
	if err := os.WriteFile(bundle, []byte(tasks), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runHrmd(t, "solve", bundle, "--model", tinyBundle)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	var answers map[string]puzzles.AnswerFile
	if err := json.Unmarshal([]byte(r.Stdout), &answers); err != nil {
		t.Fatal(err)
	}
	if len(answers) != 2 || len(answers["first"].Answers) != 2 || len(answers["second"].Answers) != 1 ||
		answers["first"].Task != "first" ||
		strings.Index(r.Stdout, `"second"`) > strings.Index(r.Stdout, `"first"`) {
		t.Errorf("bundle answers:\n%s", r.Stdout)
	}
}

// Bad input exits 2 with exactly one line, `error <code>: <message>`; every
// other failure exits 1 the same way.
func TestSolveErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := filepath.Join(arcDir, "training", "007bbfb7.json")
	smallLimit := write("small.yaml", "model: "+tinyBundle+"\nwatch: {max_file_bytes: 100}\n")
	// A bundle whose step.onnx changed after export, and one without it.
	tampered, noStep := testenv.CopyDir(t, tinyBundle), testenv.CopyDir(t, tinyBundle)
	if err := os.WriteFile(filepath.Join(tampered, "step.onnx"), []byte("not the exported graph"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(noStep, "step.onnx")); err != nil {
		t.Fatal(err)
	}
	limits := write(
		"limits.yaml",
		"model: "+demoBundle+"\nwatch: {max_test_inputs: 2, max_rows: 5}\ninference: {augmentations: 3}\n",
	)
	threeTests := write("three.json", `{"test":[{"input":[[1]]},{"input":[[2]]},{"input":[[3]]}]}`)
	twoTests := write("two.json", `{"test":[{"input":[[1]]},{"input":[[2]]}]}`)
	badLib := write("badlib.yaml", "model: "+tinyBundle+"\nonnxruntime: {library: /nonexistent/libonnxruntime.so}\n")
	requireTRT := write(
		"trt.yaml",
		"model: "+tinyBundle+"\nonnxruntime: {require: tensorrt}\ntensorrt: {engine_cache: "+filepath.Join(dir, "trt")+"}\n",
	)
	tests := []struct {
		name    string
		args    []string
		exit    int
		code    string
		message string
	}{
		{
			"ragged",
			[]string{"solve", write("ragged.json", `{"train":[],"test":[{"input":[[1,2],[3]]}]}`), "--model", tinyBundle},
			2,
			"ragged_grid",
			"test[0].input row 1 has 1 cells; row 0 has 2",
		},
		{
			"not json",
			[]string{"solve", write("half.json", `{"train": [`), "--model", tinyBundle},
			2,
			"not_json",
			"ends early",
		},
		{
			"bad colour",
			[]string{"solve", write("colour.json", `{"test":[{"input":[[12]]}]}`), "--model", tinyBundle},
			2,
			"bad_colour",
			"colours are 0-9",
		},
		{"too big", []string{"solve", good, "--config", smallLimit}, 2, "too_big", "the limit is 100 bytes"},
		{"too many test inputs", []string{"solve", threeTests, "--config", limits}, 2, "too_many_test_inputs",
			`"test" has 3 test inputs; the limit is 2 a task (ARC tasks have at most 4; split the task) ` +
				`(watch.max_test_inputs in hrmd.yaml)`},
		{"too many rows", []string{"solve", twoTests, "--config", limits}, 2, "too_many_rows",
			"the file needs 8 rows through the model (2 test inputs × 4, each with its inference.augmentations variants, " +
				"+ 0 demonstrations for inference.demo_check); the limit is 5 rows a file (watch.max_rows in hrmd.yaml): " +
				"split the file"},
		{
			"duplicate key",
			[]string{"solve", write("twice.json", `{"test":[{"input":[[1]]}],"test":[]}`), "--model", tinyBundle},
			2,
			"duplicate_key",
			`has the key "test" twice`,
		},
		{
			"byte order mark",
			[]string{"solve", write("bom.json", "\uFEFF"+`{"test":[{"input":[[1]]}]}`), "--model", tinyBundle},
			2,
			"not_json",
			"UTF-8 byte order mark (BOM",
		},
		{
			"not a task",
			[]string{"solve", write("list.json", `[1,2]`), "--model", tinyBundle},
			2,
			"bad_task",
			"the file holds a list",
		},
		{
			"unknown field",
			[]string{"solve", write("field.json", `{"test":[{"input":[[1]]}],"hint":"x"}`), "--model", tinyBundle},
			2,
			"unknown_field",
			`field "hint"`,
		},
		{"no tasks", []string{"solve", write("empty.json", `{}`), "--model", tinyBundle}, 2, "no_tasks", "empty object"},
		{
			"no test input",
			[]string{"solve", write("notest.json", `{"train":[],"test":[]}`), "--model", tinyBundle},
			2,
			"no_test_input",
			`"test" is empty`,
		},
		{
			"missing output",
			[]string{
				"solve",
				write("noout.json", `{"train":[{"input":[[1]]}],"test":[{"input":[[1]]}]}`),
				"--model",
				tinyBundle,
			},
			2,
			"missing_output",
			`train[0] has no "output"`,
		},
		{
			"not a grid",
			[]string{"solve", write("str.json", `{"test":[{"input":[["1"]]}]}`), "--model", tinyBundle},
			2,
			"not_a_grid",
			`row 0 column 0 is the string "1"`,
		},
		{
			"empty grid",
			[]string{"solve", write("nogrid.json", `{"test":[{"input":[]}]}`), "--model", tinyBundle},
			2,
			"empty_grid",
			"test[0].input has no rows",
		},
		{
			"grid too large",
			[]string{"solve", write("large.json", `{"test":[{"input":`+bigGrid(31, 2)+`}]}`), "--model", tinyBundle},
			2,
			"grid_too_large",
			"test[0].input has 31 rows; at most 30",
		},
		{"tampered bundle", []string{"solve", good, "--model", tampered}, 1, "bundle_checksum", "step.onnx has sha256"},
		{
			"bundle without step.onnx",
			[]string{"solve", good, "--model", noStep},
			1,
			"bundle_invalid",
			"graphs.step.file: open " + filepath.Join(noStep, "step.onnx"),
		},
		{
			"missing task",
			[]string{"solve", filepath.Join(dir, "nope.json"), "--model", tinyBundle},
			2,
			"not_found",
			"nope.json",
		},
		{"no model", []string{"solve", good}, 2, "usage", "solve needs a model"},
		{"two tasks", []string{"solve", good, good, "--model", tinyBundle}, 2, "usage", "one task file"},
		{
			"bad halting",
			[]string{"solve", good, "--model", tinyBundle, "--halting", "soon"},
			2,
			"usage",
			`halting mode "soon"`,
		},
		{"unknown flag", []string{"solve", good, "--modle", tinyBundle}, 2, "usage", "-modle"},
		{"unknown command", []string{"serve"}, 2, "usage", `unknown command "serve"`},
		{
			"model folder missing",
			[]string{"solve", good, "--model", filepath.Join(dir, "nomodel")},
			1,
			"bundle_invalid",
			"does not exist",
		},
		{
			"library missing",
			[]string{"solve", good, "--config", badLib},
			1,
			"ort_missing",
			"/nonexistent/libonnxruntime.so, which does not exist",
		},
		{
			"tensorrt required",
			[]string{"solve", good, "--config", requireTRT},
			1,
			"provider_unavailable",
			"onnxruntime.require is tensorrt",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runHrmd(t, tt.args...)
			prefix := "error " + tt.code + ": "
			if r.Code != tt.exit || r.Stdout != "" || strings.Count(r.Stderr, "\n") != 1 ||
				!strings.HasPrefix(r.Stderr, prefix) || !strings.Contains(r.Stderr, tt.message) {
				t.Errorf(
					"exit %d, stdout %q, stderr %q\nwant exit %d and one line %s...%s...",
					r.Code,
					r.Stdout,
					r.Stderr,
					tt.exit,
					prefix,
					tt.message,
				)
			}
		})
	}
}

func bigGrid(rows, cols int) string {
	row := "[" + strings.TrimSuffix(strings.Repeat("1,", cols), ",") + "]"
	return "[" + strings.TrimSuffix(strings.Repeat(row+",", rows), ",") + "]"
}

func TestVersion(t *testing.T) {
	r := runHrmd(t, "version")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	for _, want := range []string{"hrmd ", "onnxruntime 1.30.0 (", "\n  chosen: " +
		"$HRMD_ORT_LIB\n", "TensorrtExecutionProvider  unavailable: Failed to load library",
		"CUDAExecutionProvider      unavailable:", "CPUExecutionProvider       available"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("version output lacks %q:\n%s", want, r.Stdout)
		}
	}
}

// `hrmd solve` with a full-size (6.95M) random nova bundle answers real ARC
// tasks exactly as PyTorch does for the same weights.
func TestSolveFullSize(t *testing.T) {
	dir := testenv.FullBundle(t)
	g := testenv.ReadGolden(t, dir)
	for _, c := range g.Cases {
		a := solveFile(t, c.TaskFile(arcDir), "--model", dir)
		got, want := a.Answers[0], puzzles.Grid(c.Decoded)
		if !got.Attempt1.Equal(want) || got.Attempt1 == nil || got.Cycles != c.HaltCycle || got.HaltedBy != c.HaltedBy {
			t.Errorf(
				"%s: %s grid after %d cycles by %s; PyTorch %s after %d by %s",
				c.Source,
				got.Attempt1.Size(),
				got.Cycles,
				got.HaltedBy,
				want.Size(),
				c.HaltCycle,
				c.HaltedBy,
			)
		}
		if a.Model.Name != filepath.Base(dir) {
			t.Errorf("model %+v", a.Model)
		}
	}
}

// A model that answers zeros whatever it is shown ("Agent Zero") is caught by
// the probe at load: solve flags every answer, and with
// inference.input_invariant: refuse it does not serve it (the daemon's side
// is TestRunInputInvariantModel, doctor's TestDoctorInputInvariant).
func TestSolveInputInvariantModel(t *testing.T) {
	task := filepath.Join(arcDir, "training", "3631a71a.json")
	r := runHrmd(t, "solve", task, "--model", zeroBundle)
	if r.Code != 0 || !strings.Contains(r.Stderr, "do not depend on its input") {
		t.Fatalf("exit %d, stderr %q; want an answer and a warning", r.Code, r.Stderr)
	}
	var a puzzles.AnswerFile
	if err := json.Unmarshal([]byte(r.Stdout), &a); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{puzzles.FlagModelInputInvariant, puzzles.FlagAllZero, puzzles.FlagLowConfidence} {
		if !slices.Contains(a.Answers[0].Flags, f) {
			t.Errorf("flags %v lack %s", a.Answers[0].Flags, f)
		}
	}

	dir := t.TempDir()
	refuse := filepath.Join(dir, "refuse.yaml")
	if err := os.WriteFile(refuse, []byte("model: "+zeroBundle+"\nonnxruntime: {providers: [cpu]}\ninference: "+
		"{input_invariant: refuse}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runHrmd(t, "solve", task, "--config", refuse)
	if r.Code != 1 || !strings.Contains(r.Stderr, "error "+answer.CodeInputInvariant+": model nova-zero") ||
		r.Stdout != "" {
		t.Errorf("refuse: exit %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
	}
}

// Test-time augmentation: each test input runs in 8 orientations, the
// answers mapped back vote, and the demo model's family (a rule that holds in
// every orientation) keeps its exact answers, now with their votes.
func TestSolveWithAugmentations(t *testing.T) {
	config := filepath.Join(t.TempDir(), "tta.yaml")
	if err := os.WriteFile(config, []byte("model: "+demoBundle+"\nonnxruntime: {providers: [cpu]}\ninference: "+
		"{augmentations: 7}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"halo-1.json", "halo-4.json"} {
		path := filepath.Join(examplesDir, name)
		task, err := puzzles.ReadFile(path, puzzles.Limits{Bytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		var first []byte
		for run := range 2 {
			r := runHrmd(t, "solve", path, "--config", config)
			if r.Code != 0 {
				t.Fatalf("%s: exit %d: %s", name, r.Code, r.Stderr)
			}
			var a puzzles.AnswerFile
			if err := json.Unmarshal([]byte(r.Stdout), &a); err != nil {
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
			stable := []byte(
				strings.Join(
					slices.DeleteFunc(strings.Split(r.Stdout, "\n"), func(l string) bool { return strings.Contains(l, "latency_ms") }),
					"\n",
				),
			)
			if run == 0 {
				first = stable
			} else if string(first) != string(stable) {
				t.Errorf("%s: two runs answer differently:\n%s\n%s", name, first, stable)
			}
		}
	}
}

// The input probe runs once a model: its verdict is kept in the engine
// cache by the bundle's sha256, and a second solve of the same model takes
// it from there instead of probing (the input_probe event's probe says
// which); the verdict kept is the one used. --input-invariant off probes
// nothing and flags nothing.
func TestSolveKeepsProbeVerdict(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "engines")
	config := filepath.Join(t.TempDir(), "hrmd.yaml")
	if err := os.WriteFile(config, []byte("onnxruntime: {providers: [cpu]}\ntensorrt: {engine_cache: "+cache+"}\n"),
		0o644); err != nil {
		t.Fatal(err)
	}
	task := filepath.Join(arcDir, "training", "3631a71a.json")
	solve := func(args ...string) (probe map[string]any, flagged bool) {
		t.Helper()
		r := runHrmd(t, append([]string{"solve", task, "--model", zeroBundle, "--config", config, "-v"}, args...)...)
		if r.Code != 0 {
			t.Fatalf("exit %d, stderr %q", r.Code, r.Stderr)
		}
		events := cliEvents(r.Stderr, "input_probe")
		if len(events) != 1 {
			t.Fatalf("%d input_probe events in %q, want 1", len(events), r.Stderr)
		}
		var a puzzles.AnswerFile
		if err := json.Unmarshal([]byte(r.Stdout), &a); err != nil {
			t.Fatal(err)
		}
		return events[0], slices.Contains(a.Answers[0].Flags, puzzles.FlagModelInputInvariant)
	}
	if ev, flagged := solve(); ev["probe"] != answer.ProbeRan || ev["input_invariant"] != true || !flagged {
		t.Fatalf("first solve: event %v, flagged %v; want the probe run, the model invariant and flagged", ev, flagged)
	}
	kept, err := filepath.Glob(filepath.Join(cache, "verified", "probe-*.json"))
	if err != nil || len(kept) != 1 {
		t.Fatalf("verdicts kept: %v (%v), want one", kept, err)
	}
	if ev, flagged := solve(); ev["probe"] != answer.ProbeKept || ev["input_invariant"] != true || !flagged {
		t.Errorf("second solve: event %v, flagged %v; want the kept verdict, flagged", ev, flagged)
	}

	// The kept verdict is what a load goes by: one that says otherwise wins.
	data, err := os.ReadFile(kept[0])
	if err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(string(data), `"input_invariant": true`, `"input_invariant": false`, 1)
	if err := os.WriteFile(kept[0], []byte(other), 0o644); err != nil {
		t.Fatal(err)
	}
	if ev, flagged := solve(); ev["probe"] != answer.ProbeKept || ev["input_invariant"] != false || flagged {
		t.Errorf("verdict edited to false: event %v, flagged %v", ev, flagged)
	}

	if ev, flagged := solve("--input-invariant", "off"); ev["probe"] != answer.ProbeOff || flagged {
		t.Errorf("--input-invariant off: event %v, flagged %v; want no probe and no flag", ev, flagged)
	}
}

// cliEvents are the fields of the lines of a command's log (-v, on stderr)
// whose event is event.
func cliEvents(stderr, event string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(stderr, "\n") {
		i := strings.Index(line, "{")
		if i < 0 {
			continue
		}
		var fields map[string]any
		if json.Unmarshal([]byte(line[i:]), &fields) == nil && fields["event"] == event {
			out = append(out, fields)
		}
	}
	return out
}

// `hrmd solve --png` draws a solved task a person can read: each
// demonstration pair, the test input, the attempts, the known answer and
// every cycle with its halt value, each grid in ARC's colours under its
// caption.
func TestSolvePNGCaptions(t *testing.T) {
	taskPath := filepath.Join(arcDir, "training", "007bbfb7.json")
	file, err := puzzles.ReadFile(taskPath, puzzles.Limits{Bytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	task := file.Tasks[0]
	out := filepath.Join(t.TempDir(), "007bbfb7.png")
	a := solveFile(t, taskPath, "--model", tinyBundle, "--max-cycles", "2", "--halting", "fixed", "--trace", "full",
		"--png", out).Answers[0]

	var want [][]puzzles.Panel
	for i, p := range task.Train {
		want = append(want, []puzzles.Panel{
			{Caption: fmt.Sprintf("demo %d input", i+1), Grid: p.Input},
			{Caption: fmt.Sprintf("demo %d output", i+1), Grid: p.Output},
		})
	}
	test := []puzzles.Panel{{Caption: "test 1 input", Grid: task.Test[0].Input}, {Caption: "attempt 1", Grid: a.Attempt1}}
	if !a.Attempt2.Equal(a.Attempt1) {
		test = append(test, puzzles.Panel{Caption: "attempt 2", Grid: a.Attempt2})
	}
	want = append(want, append(test, puzzles.Panel{Caption: "known answer", Grid: task.Test[0].Output}))
	for _, c := range a.Trace {
		want = append(want, []puzzles.Panel{{Caption: fmt.Sprintf("cycle %d  halt %.2f", c.Cycle, c.Halt), Grid: c.Grid}})
	}
	if len(a.Trace) != 2 {
		t.Fatalf("trace %+v, want 2 cycles", a.Trace)
	}

	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	corners, width, height := puzzles.Layout(want)
	img := testenv.DecodePNG(t, data, width, height)
	for i, row := range want {
		for j, p := range row {
			testenv.ShowsCaption(t, img, puzzles.CaptionOrigin(corners[i][j]), p.Caption)
			for r, cells := range p.Grid {
				for c, v := range cells {
					x, y := puzzles.CellOrigin(corners[i][j].X, corners[i][j].Y, r, c)
					cr, cg, cb, _ := img.At(x+8, y+8).RGBA()
					if w := puzzles.Colour(v); uint8(cr>>8) != w.R || uint8(cg>>8) != w.G || uint8(cb>>8) != w.B {
						t.Fatalf("%q cell (%d,%d) is not colour %d", p.Caption, r, c, v)
					}
				}
			}
		}
	}
}
