package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/puzzles"
)

const (
	fixtureBundle = "../engine/testdata/nova-tiny"
	arcDir        = "../testdata/arc/ARC-AGI-1"
)

// hrmdBin is the real hrmd, built once for the tests that run it as a process.
var hrmdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hrmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The doctor tests run it as an unprivileged user too.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hrmdBin = filepath.Join(dir, "hrmd")
	args := []string{"build", "-o", hrmdBin}
	if raceEnabled {
		args = append(args, "-race") // the daemon's own goroutines are checked too
	}
	build := exec.Command("go", append(args, "./cmd/hrmd")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build hrmd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func runHrmd(t *testing.T, args ...string) result {
	t.Helper()
	return runCommand(t, hrmdCommand(t, args...))
}

// hrmdCommand is the real hrmd with args, on the test's onnxruntime.
func hrmdCommand(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(hrmdBin, args...)
	cmd.Env = append(os.Environ(), "HRMD_ORT_LIB="+testenv.ORTLibrary(t))
	return cmd
}

// runCommand runs cmd to its end and returns its exit code and output.
func runCommand(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, stdout.String(), stderr.String()}
}

type golden struct {
	Cases []struct {
		Source    string
		HaltCycle int    `json:"halt_cycle"`
		HaltedBy  string `json:"halted_by"`
		Decoded   puzzles.Grid
		Cycles    []struct{ Halt float64 }
	}
}

func readGoldenAt(t *testing.T, dir string) golden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// `hrmd solve` on the real ARC tasks of the golden file answers exactly what
// the PyTorch reference predicts for them.
func TestSolveMatchesPyTorch(t *testing.T) {
	g := readGoldenAt(t, fixtureBundle)
	for _, c := range g.Cases {
		// "ARC-AGI-1 training/007bbfb7.json test[0].input"
		rel := strings.Fields(c.Source)[1]
		t.Run(rel, func(t *testing.T) {
			r := runHrmd(t, "solve", filepath.Join(arcDir, rel), "--model", fixtureBundle)
			// Random weights: the probe finds the same answer to every probe
			// grid, and says so; nothing else is said.
			if r.code != 0 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "do not depend on its input") {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			var a puzzles.AnswerFile
			if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
				t.Fatal(err)
			}
			got := a.Answers[0]
			if !got.Attempt1.Equal(c.Decoded) || !got.Attempt2.Equal(c.Decoded) || got.Attempt1 == nil {
				t.Errorf("attempt_1 %v, PyTorch %v", got.Attempt1, c.Decoded)
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
			if noGrid := len(c.Decoded) == 0; noGrid != slices.Contains(got.Flags, puzzles.FlagNoGrid) || !slices.Contains(got.Flags, puzzles.FlagLowConfidence) ||
				!slices.Contains(got.Flags, puzzles.FlagModelInputInvariant) {
				t.Errorf("flags %v for a %s prediction", got.Flags, c.Decoded.Size())
			}
			if a.Task != strings.TrimSuffix(filepath.Base(rel), ".json") || a.Model.Name != "nova-tiny" || len(a.Model.SHA256) != 64 ||
				a.Runtime.Provider != "CPUExecutionProvider" || a.Runtime.Precision != "fp32" || a.Runtime.Device == "" || a.Runtime.LatencyMS <= 0 {
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
	r := runHrmd(t, "solve", "--max-cycles", "3", "--halting", "fixed", "--trace", "full", "--model", fixtureBundle, task)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var a puzzles.AnswerFile
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatal(err)
	}
	ans := a.Answers[0]
	if ans.Cycles != 3 || ans.HaltedBy != "fixed" || len(ans.Trace) != 3 || !ans.Trace[2].Grid.Equal(ans.Attempt1) || ans.Trace[0].Changed == 0 {
		t.Errorf("answer %+v", ans)
	}

	// A multi-task bundle is answered task by task, keyed and ordered as given.
	bundle := filepath.Join(t.TempDir(), "challenges.json")
	if err := os.WriteFile(bundle, []byte(`{"second":{"test":[{"input":[[1,2],[3,4]]}]},"first":{"train":[{"input":[[1]],"output":[[2]]}],"test":[{"input":[[5]]},{"input":[[6,7]]}]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runHrmd(t, "solve", bundle, "--model", fixtureBundle)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var answers map[string]puzzles.AnswerFile
	if err := json.Unmarshal([]byte(r.stdout), &answers); err != nil {
		t.Fatal(err)
	}
	if len(answers) != 2 || len(answers["first"].Answers) != 2 || len(answers["second"].Answers) != 1 || answers["first"].Task != "first" ||
		strings.Index(r.stdout, `"second"`) > strings.Index(r.stdout, `"first"`) {
		t.Errorf("bundle answers:\n%s", r.stdout)
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
	smallLimit := write("small.yaml", "model: "+fixtureBundle+"\nwatch: {max_file_bytes: 100}\n")
	// A bundle whose step.onnx changed after export, and one without it.
	tampered, noStep := copyDir(t, fixtureBundle), copyDir(t, fixtureBundle)
	if err := os.WriteFile(filepath.Join(tampered, "step.onnx"), []byte("not the exported graph"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(noStep, "step.onnx")); err != nil {
		t.Fatal(err)
	}
	badLib := write("badlib.yaml", "model: "+fixtureBundle+"\nonnxruntime: {library: /nonexistent/libonnxruntime.so}\n")
	requireTRT := write("trt.yaml", "model: "+fixtureBundle+"\nonnxruntime: {require: tensorrt}\ntensorrt: {engine_cache: "+filepath.Join(dir, "trt")+"}\n")
	tests := []struct {
		name    string
		args    []string
		exit    int
		code    string
		message string
	}{
		{"ragged", []string{"solve", write("ragged.json", `{"train":[],"test":[{"input":[[1,2],[3]]}]}`), "--model", fixtureBundle}, 2, "ragged_grid", "test[0].input row 1 has 1 cells; row 0 has 2"},
		{"not json", []string{"solve", write("half.json", `{"train": [`), "--model", fixtureBundle}, 2, "not_json", "ends early"},
		{"bad colour", []string{"solve", write("colour.json", `{"test":[{"input":[[12]]}]}`), "--model", fixtureBundle}, 2, "bad_colour", "colours are 0-9"},
		{"too big", []string{"solve", good, "--config", smallLimit}, 2, "too_big", "the limit is 100 bytes"},
		{"not a task", []string{"solve", write("list.json", `[1,2]`), "--model", fixtureBundle}, 2, "bad_task", "the file holds a list"},
		{"unknown field", []string{"solve", write("field.json", `{"test":[{"input":[[1]]}],"hint":"x"}`), "--model", fixtureBundle}, 2, "unknown_field", `field "hint"`},
		{"no tasks", []string{"solve", write("empty.json", `{}`), "--model", fixtureBundle}, 2, "no_tasks", "empty object"},
		{"no test input", []string{"solve", write("notest.json", `{"train":[],"test":[]}`), "--model", fixtureBundle}, 2, "no_test_input", `"test" is empty`},
		{"missing output", []string{"solve", write("noout.json", `{"train":[{"input":[[1]]}],"test":[{"input":[[1]]}]}`), "--model", fixtureBundle}, 2, "missing_output", `train[0] has no "output"`},
		{"not a grid", []string{"solve", write("str.json", `{"test":[{"input":[["1"]]}]}`), "--model", fixtureBundle}, 2, "not_a_grid", `row 0 column 0 is the string "1"`},
		{"empty grid", []string{"solve", write("nogrid.json", `{"test":[{"input":[]}]}`), "--model", fixtureBundle}, 2, "empty_grid", "test[0].input has no rows"},
		{"grid too large", []string{"solve", write("large.json", `{"test":[{"input":`+bigGrid(31, 2)+`}]}`), "--model", fixtureBundle}, 2, "grid_too_large", "test[0].input has 31 rows; at most 30"},
		{"tampered bundle", []string{"solve", good, "--model", tampered}, 1, "bundle_checksum", "step.onnx has sha256"},
		{"bundle without step.onnx", []string{"solve", good, "--model", noStep}, 1, "bundle_invalid", "graphs.step.file: open " + filepath.Join(noStep, "step.onnx")},
		{"missing task", []string{"solve", filepath.Join(dir, "nope.json"), "--model", fixtureBundle}, 2, "not_found", "nope.json"},
		{"no model", []string{"solve", good}, 2, "usage", "solve needs a model"},
		{"two tasks", []string{"solve", good, good, "--model", fixtureBundle}, 2, "usage", "one task file"},
		{"bad halting", []string{"solve", good, "--model", fixtureBundle, "--halting", "soon"}, 2, "usage", `halting mode "soon"`},
		{"unknown flag", []string{"solve", good, "--modle", fixtureBundle}, 2, "usage", "-modle"},
		{"unknown command", []string{"serve"}, 2, "usage", `unknown command "serve"`},
		{"model folder missing", []string{"solve", good, "--model", filepath.Join(dir, "nomodel")}, 1, "bundle_invalid", "does not exist"},
		{"library missing", []string{"solve", good, "--config", badLib}, 1, "ort_missing", "/nonexistent/libonnxruntime.so, which does not exist"},
		{"tensorrt required", []string{"solve", good, "--config", requireTRT}, 1, "provider_unavailable", "onnxruntime.require is tensorrt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runHrmd(t, tt.args...)
			prefix := "error " + tt.code + ": "
			if r.code != tt.exit || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 ||
				!strings.HasPrefix(r.stderr, prefix) || !strings.Contains(r.stderr, tt.message) {
				t.Errorf("exit %d, stdout %q, stderr %q\nwant exit %d and one line %s...%s...", r.code, r.stdout, r.stderr, tt.exit, prefix, tt.message)
			}
		})
	}
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func bigGrid(rows, cols int) string {
	row := "[" + strings.TrimSuffix(strings.Repeat("1,", cols), ",") + "]"
	return "[" + strings.TrimSuffix(strings.Repeat(row+",", rows), ",") + "]"
}

func TestVersion(t *testing.T) {
	r := runHrmd(t, "version")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"hrmd ", "onnxruntime 1.30.0 (", "TensorrtExecutionProvider  unavailable: Failed to load library",
		"CUDAExecutionProvider      unavailable:", "CPUExecutionProvider       available"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("version output lacks %q:\n%s", want, r.stdout)
		}
	}
}
