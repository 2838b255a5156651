//go:build cgo

package engine

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/puzzles"
)

func openRuntime(t testing.TB, cfg Config) (*Runtime, *observer.ObservedLogs) {
	t.Helper()
	if cfg.Library == "" {
		cfg.Library = testenv.ORTLibrary(t)
	}
	core, logs := observer.New(zap.DebugLevel)
	rt, err := Open(cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Close(); err != nil {
			t.Error(err)
		}
	})
	return rt, logs
}

func cpuConfig() Config {
	cfg := DefaultConfig()
	cfg.Providers = []string{ProviderCPU}
	cfg.Threads = 1
	return cfg
}

func loadModel(t testing.TB, rt *Runtime, dir string, maxBatch int) *Model {
	t.Helper()
	b, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rt.LoadModel(b, ModelOptions{MaxBatch: maxBatch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func goldenTokens(g testenv.Golden) [][]int64 {
	rows := make([][]int64, len(g.Cases))
	for i, c := range g.Cases {
		rows[i] = c.Tokens
	}
	return rows
}

// ONNX Runtime, run from Go as one batch, must reproduce the PyTorch reference
// (batch 1 per input) cycle by cycle: the same argmax everywhere, the same
// halt values and logits to float32 rounding, and the same halting cycle.
func TestModelMatchesPyTorchGolden(t *testing.T) {
	t.Run("tiny", func(t *testing.T) { checkGolden(t, fixtureDir) })
	t.Run("full", func(t *testing.T) { checkGolden(t, testenv.FullBundle(t)) })
	t.Run("act-v1 tiny", func(t *testing.T) { checkGolden(t, actFixtureDir) })
	t.Run("act-v1 full", func(t *testing.T) { checkGolden(t, testenv.FullActBundle(t)) })
	t.Run("act-v1 sudoku tiny", func(t *testing.T) { checkGolden(t, "testdata/act-v1-sudoku-tiny") })
	t.Run("act-v1 maze tiny", func(t *testing.T) { checkGolden(t, "testdata/act-v1-maze-tiny") })
	t.Run("act-v1 sudoku full", func(t *testing.T) { checkGolden(t, testenv.FullActSudokuBundle(t)) })
}

// goldenPuzzles are the puzzle table rows the golden cases ran with (nil
// for a bundle without a table).
func goldenPuzzles(t *testing.T, b *bundle.Bundle, g testenv.Golden) []int {
	if b.Puzzles == nil {
		return nil
	}
	rows := make([]int, len(g.Cases))
	for i, c := range g.Cases {
		r, ok := b.Puzzles.Row(c.Puzzle)
		if !ok && c.Puzzle != bundle.BlankPuzzle {
			t.Fatalf("%s: the golden file's puzzle %q has no row", c.Source, c.Puzzle)
		}
		rows[i] = r
	}
	return rows
}

func checkGolden(t *testing.T, dir string) {
	g := testenv.ReadGolden(t, dir)
	rt, _ := openRuntime(t, cpuConfig())
	m := loadModel(t, rt, dir, len(g.Cases))
	seq, vocab := m.seq, m.vocab
	logitsSeen, qSeen := 0, 0
	puzzles := goldenPuzzles(t, m.bundle, g)
	m.onStep = func(cycle int, active []int, logits []float32) {
		for k, row := range active {
			// act-v1's q head, raw: q_halt and q_continue within 1e-4.
			for j, w := range g.Cases[row].Cycles[cycle-1].Q {
				if got := float64(m.halt[k*m.haltWidth+j]); math.Abs(got-w) > 1e-4*max(1, math.Abs(w)) {
					t.Errorf("%s cycle %d q[%d]: %g, PyTorch %g", g.Cases[row].Source, cycle, j, got, w)
				}
				qSeen++
			}
			want := g.Cases[row].Cycles[cycle-1].Logits
			for _, cell := range g.LogitCells {
				for v, w := range want[strconv.Itoa(cell)] {
					got := float64(logits[(k*seq+cell)*vocab+v])
					if math.Abs(got-w) > 1e-4*max(1, math.Abs(w)) {
						t.Errorf("%s cycle %d cell %d logit %d: %g, PyTorch %g", g.Cases[row].Source, cycle, cell, v, got, w)
					}
					logitsSeen++
				}
			}
		}
	}
	results, err := m.RunPuzzles(
		context.Background(),
		goldenTokens(g),
		puzzles,
		RunOptions{Halting: HaltFixed, Trace: TraceFull},
	)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(g.Cases) * g.Halting.MaxCycles * len(g.LogitCells) * vocab; logitsSeen != want {
		t.Errorf("compared %d logits, want %d", logitsSeen, want)
	}
	if m.bundle.Manifest.Halting.Rule == bundle.RuleQCompare && qSeen != len(g.Cases)*g.Halting.MaxCycles*2 {
		t.Errorf("compared %d q values, want %d", qSeen, len(g.Cases)*g.Halting.MaxCycles*2)
	}
	for i, c := range g.Cases {
		r := results[i]
		if r.Cycles != g.Halting.MaxCycles || r.HaltedBy != HaltedByFixed || len(r.Trace) != r.Cycles {
			t.Errorf("%s: %d cycles, halted by %s, %d traced", c.Source, r.Cycles, r.HaltedBy, len(r.Trace))
			continue
		}
		prev := c.Tokens
		for k, tr := range r.Trace {
			want := c.Cycles[k]
			if !slices.Equal(tr.Tokens, want.Argmax) {
				t.Errorf("%s cycle %d: argmax differs from PyTorch in %d cells", c.Source, k+1, differing(tr.Tokens, want.Argmax))
			}
			if math.Abs(tr.Halt-want.Halt) > 1e-5 {
				t.Errorf("%s cycle %d: halt %g, PyTorch %g", c.Source, k+1, tr.Halt, want.Halt)
			}
			if d := differing(want.Argmax, prev); tr.Changed != d {
				t.Errorf("%s cycle %d: changed %d, want %d", c.Source, k+1, tr.Changed, d)
			}
			prev = want.Argmax
		}
	}

	// The manifest's own rule (nova: threshold 0.9 after at least 2 cycles;
	// act-v1: q_halt > q_continue) halts each row where the reference stops.
	results, err = m.RunPuzzles(context.Background(), goldenTokens(g), puzzles, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range g.Cases {
		if r := results[i]; r.Cycles != c.HaltCycle || r.HaltedBy != c.HaltedBy ||
			!slices.Equal(r.Tokens, c.Cycles[c.HaltCycle-1].Argmax) {
			t.Errorf("%s: %d cycles by %s, PyTorch %d by %s", c.Source, r.Cycles, r.HaltedBy, c.HaltCycle, c.HaltedBy)
		}
	}
}

func differing(a, b []int64) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// expectedHalt replays a halting rule over the golden trace of one input.
func expectedHalt(c testenv.GoldenCase, threshold float64, minCycles, maxCycles int) (int, string) {
	for cycle := 1; cycle <= maxCycles; cycle++ {
		if cycle >= minCycles && c.Cycles[cycle-1].Halt > threshold {
			return cycle, HaltedByModel
		}
	}
	return maxCycles, HaltedByMaxCycles
}

// Rows of one batch halt at different cycles; the rows that go on run as a
// smaller batch and must still match the reference exactly.
func TestPerRowHalting(t *testing.T) {
	g := testenv.ReadGolden(t, fixtureDir)
	// A threshold between the golden halt values makes some rows stop early.
	threshold := g.SplittingThreshold()
	dir := copyBundle(t)
	setManifestField(t, dir, "threshold: 0.9", "threshold: "+strconv.FormatFloat(threshold, 'g', -1, 64))

	rt, _ := openRuntime(t, cpuConfig())
	for _, maxBatch := range []int{len(g.Cases), 4, 1} {
		m := loadModel(t, rt, dir, maxBatch)
		results, err := m.Run(context.Background(), goldenTokens(g), RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cycles := map[int]bool{}
		for i, c := range g.Cases {
			wantCycles, wantBy := expectedHalt(c, threshold, g.Halting.MinCycles, g.Halting.MaxCycles)
			r := results[i]
			cycles[r.Cycles] = true
			if r.Cycles != wantCycles || r.HaltedBy != wantBy {
				t.Errorf(
					"batch %d, %s: halted after %d by %s, want %d by %s",
					maxBatch,
					c.Source,
					r.Cycles,
					r.HaltedBy,
					wantCycles,
					wantBy,
				)
			}
			if !slices.Equal(r.Tokens, c.Cycles[wantCycles-1].Argmax) {
				t.Errorf("batch %d, %s: final prediction is not PyTorch's cycle %d", maxBatch, c.Source, wantCycles)
			}
			if math.Abs(r.Halt-c.Cycles[r.Cycles-1].Halt) > 1e-5 {
				t.Errorf("batch %d, %s: halt %g, want %g", maxBatch, c.Source, r.Halt, c.Cycles[r.Cycles-1].Halt)
			}
		}
		if len(cycles) < 2 {
			t.Errorf(
				"threshold %g: every row halted after the same cycle count %v; the test needs rows that halt apart",
				threshold,
				cycles,
			)
		}
	}
}

func TestHaltingModesAndMaxCycles(t *testing.T) {
	g := testenv.ReadGolden(t, fixtureDir)
	rt, _ := openRuntime(t, cpuConfig())
	m := loadModel(t, rt, fixtureDir, 3)
	tests := []struct {
		name string
		opts RunOptions
		want func(c testenv.GoldenCase) (int, string)
	}{
		{
			"max cycles override",
			RunOptions{MaxCycles: 3},
			func(testenv.GoldenCase) (int, string) { return 3, HaltedByMaxCycles },
		},
		{
			"fixed 5",
			RunOptions{Halting: HaltFixed, MaxCycles: 5},
			func(testenv.GoldenCase) (int, string) { return 5, HaltedByFixed },
		},
		{"converged", RunOptions{Halting: HaltConverged}, func(c testenv.GoldenCase) (int, string) {
			for k := 1; k < len(c.Cycles); k++ {
				if slices.Equal(c.Cycles[k].Argmax, c.Cycles[k-1].Argmax) {
					return k + 1, HaltedByConverged
				}
			}
			return len(c.Cycles), HaltedByMaxCycles
		}},
		{
			"threshold above every value",
			RunOptions{MaxCycles: 1},
			func(testenv.GoldenCase) (int, string) { return 1, HaltedByMaxCycles },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results, err := m.Run(context.Background(), goldenTokens(g), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range g.Cases {
				cycles, by := tt.want(c)
				r := results[i]
				if r.Cycles != cycles || r.HaltedBy != by || !slices.Equal(r.Tokens, c.Cycles[cycles-1].Argmax) ||
					len(r.Trace) != cycles {
					t.Errorf("%s: %d cycles by %s, want %d by %s", c.Source, r.Cycles, r.HaltedBy, cycles, by)
				}
				if r.Trace[0].Tokens != nil {
					t.Errorf("summary trace kept tokens")
				}
			}
		})
	}
}

func TestRunCancelled(t *testing.T) {
	g := testenv.ReadGolden(t, fixtureDir)
	rt, _ := openRuntime(t, cpuConfig())
	m := loadModel(t, rt, fixtureDir, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Run(ctx, goldenTokens(g), RunOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	// The model still works afterwards.
	if _, err := m.Run(context.Background(), goldenTokens(g)[:1], RunOptions{MaxCycles: 2}); err != nil {
		t.Fatalf("run after a cancelled one: %v", err)
	}
}

// The CPU-only library has no TensorRT or CUDA: with the default chain the
// model still loads, on CPU, with one log line per missing provider; with
// require: tensorrt it refuses, saying why.
func TestProviderFallback(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TensorRT.EngineCache = filepath.Join(t.TempDir(), "trt")
	rt, logs := openRuntime(t, cfg)
	m := loadModel(t, rt, fixtureDir, 1)
	if m.Provider() != "CPUExecutionProvider" || m.Precision() != "fp32" {
		t.Errorf("provider %s %s, want CPUExecutionProvider fp32", m.Provider(), m.Precision())
	}
	for _, p := range []string{ProviderTensorRT, ProviderCUDA} {
		lines := logs.FilterMessage("execution provider unavailable, falling back").
			FilterField(zap.String("provider", p)).
			All()
		if len(lines) != 1 {
			t.Errorf("%s: %d fallback log lines, want 1", p, len(lines))
			continue
		}
		if reason := lines[0].ContextMap()["reason"].(string); reason == "" {
			t.Errorf("%s: fallback without a reason", p)
		}
	}
	if _, err := os.Stat(cfg.TensorRT.EngineCache); !os.IsNotExist(err) {
		t.Errorf("engine cache created without TensorRT: %v", err)
	}
	statuses := rt.Providers()
	if len(statuses) != 3 || statuses[0].Available || statuses[1].Available || !statuses[2].Available ||
		statuses[0].Reason == "" {
		t.Errorf("providers: %+v", statuses)
	}

	cfg.Require = ProviderTensorRT
	rt.cfg = cfg
	b, err := bundle.Load(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rt.LoadModel(b, ModelOptions{})
	var eerr *Error
	if !errors.As(err, &eerr) || eerr.Code != CodeProviderUnavailable ||
		!strings.Contains(eerr.Message, "onnxruntime.require is tensorrt") {
		t.Fatalf("require tensorrt on a CPU library: %v", err)
	}
}

func TestOpenLibraryErrors(t *testing.T) {
	notLib := filepath.Join(t.TempDir(), "libonnxruntime.so")
	if err := os.WriteFile(notLib, []byte("not a shared library"), 0o644); err != nil {
		t.Fatal(err)
	}
	libm, _ := filepath.Glob("/usr/lib/*-linux-gnu/libm.so.6")
	if len(libm) == 0 {
		t.Fatal("no libm.so.6 to try as a library that is not onnxruntime")
	}
	tests := []struct {
		name, library, code, message string
	}{
		{"missing", filepath.Join(t.TempDir(), "nope.so"), CodeORTMissing, "does not exist; run ./build.sh deps"},
		{"not a library", notLib, CodeORTUnloadable, "cannot load " + notLib},
		{"not onnxruntime", libm[0], CodeORTUnloadable, "is not an onnxruntime library (no OrtGetApiBase)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cpuConfig()
			cfg.Library = tt.library
			_, err := Open(cfg, zap.NewNop())
			var eerr *Error
			if !errors.As(err, &eerr) || eerr.Code != tt.code || !strings.Contains(eerr.Message, tt.message) {
				t.Fatalf("got %v, want %s ...%s...", err, tt.code, tt.message)
			}
		})
	}
}

// A manifest that disagrees with its ONNX graphs is refused before anything
// runs, naming the file, the tensor and the field.
func TestLoadModelRefusesMismatchedGraphs(t *testing.T) {
	rt, _ := openRuntime(t, cpuConfig())
	type edit struct{ old, new string }
	tests := []struct {
		name    string
		edits   []edit
		message string
	}{
		{"vocab", []edit{{"encoding: arc-eos", "encoding: raw"}, {"vocab: 12", "vocab: 10"}},
			`step.onnx output "logits" (the logits) has shape [900 12] per row; hrm.yaml grid 30 and vocab 10 mean [900 10]`},
		{"hidden", []edit{{"hidden: 32", "hidden: 64"}}, `step.onnx input "h" has width 32; hrm.yaml hidden is 64`},
		{
			"grid",
			[]edit{{"grid: 30", "grid: 20"}},
			`init.onnx input "tokens" has [900] tokens per row; hrm.yaml grid 20 means 400`,
		},
		{
			"halt rule",
			[]edit{{"rule: threshold", "rule: q_compare"}},
			`step.onnx output "halt" (halting.output) has 1 values per row; halting.rule q_compare needs [2]`,
		},
		{"renamed output", []edit{{"outputs: [h_next, l_next, logits, halt]", "outputs: [h_next, l_next, scores, halt]"}},
			`step.onnx has [h_next l_next logits halt] but hrm.yaml graphs.step.outputs says [h_next l_next scores halt]`},
		{
			"swapped graphs",
			[]edit{
				{"file: step.onnx", "file: init.onnx"},
				{
					"sha256: 4540b59d9f9cd5b26842e32b422c7111fba122e7980dd9d3e624d5a5336fe48a",
					"sha256: f7cead68abd38f0519c3d7cb68df5656be68b568b9708b04ffe821c838147431",
				},
			},
			`init.onnx has [tokens] but hrm.yaml graphs.step.inputs says [h l]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyBundle(t)
			for _, e := range tt.edits {
				setManifestField(t, dir, e.old, e.new)
			}
			b, err := bundle.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			_, err = rt.LoadModel(b, ModelOptions{})
			var eerr *Error
			if !errors.As(err, &eerr) || eerr.Code != CodeBundleMismatch || !strings.Contains(eerr.Message, tt.message) {
				t.Fatalf("got %v\nwant bundle_mismatch: ...%s...", err, tt.message)
			}
		})
	}
}

// The memory a large puzzle table costs a served model: the bundle at
// $HRMD_BIG_TABLE_BUNDLE (an act-v1 bundle whose table has many rows; the
// note of issue 14 says how it was made) is loaded and one task row run;
// the table's resident part and the process's are logged. A measurement,
// skipped without the bundle.
func TestPuzzleTableResidentMemory(t *testing.T) {
	dir := os.Getenv("HRMD_BIG_TABLE_BUNDLE")
	if dir == "" {
		t.Skip("HRMD_BIG_TABLE_BUNDLE names no bundle")
	}
	rt, _ := openRuntime(t, cpuConfig())
	m := loadModel(t, rt, dir, 1)
	b := m.Bundle()
	row, _ := b.Puzzles.Row(b.Puzzles.Name(1))
	tokens := make([]int64, b.Seq())
	b.Encoding.Encode(puzzles.Grid{{1, 2}, {3, 4}}, b.Manifest.Grid, tokens)
	opts := RunOptions{Halting: HaltFixed, MaxCycles: 2}
	if _, err := m.RunPuzzles(context.Background(), [][]int64{tokens}, []int{row}, opts); err != nil {
		t.Fatal(err)
	}
	table := b.Path(b.Manifest.PuzzleEmbeddings.File)
	st, err := os.Stat(table)
	if err != nil {
		t.Fatal(err)
	}
	status, _ := os.ReadFile("/proc/self/status")
	var vm []string
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "VmHWM") {
			vm = append(vm, strings.Join(strings.Fields(l), " "))
		}
	}
	t.Logf(
		"table %d rows, %d MiB on disk; resident through the map: %d KiB; process %v",
		b.Puzzles.Len(),
		st.Size()>>20,
		testenv.MappedRSS(t, table),
		vm,
	)
}
