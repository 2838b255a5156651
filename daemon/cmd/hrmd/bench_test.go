package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hrmd/hrmd/puzzles"
)

// The keys of hrmd bench --json, as docs/commands.md documents them:
// scripts rely on every one being there, null when unknown.
var (
	benchKeys = []string{"hrmd_version", "onnxruntime_version", "model", "device", "provider", "precision", "max_batch",
		"threads", "load_ms", "warmup_ms", "engine_cache", "cycles", "runs", "inputs", "batches", "peak_rss_bytes", "jetson"}
	benchModelKeys = []string{"name", "family", "sha256", "path", "flops_per_cycle"}
	benchBatchKeys = []string{"batch", "runs", "rows", "cycles_run", "seconds", "batch_ms_p50", "batch_ms_p95",
		"row_ms_p50", "row_ms_p95", "rows_per_s", "gflop_per_s"}
	benchEngineCacheKeys = []string{"dir", "found", "built", "build_ms", "tuned_batch", "check", "rejected"}
)

// missingJSONKeys lists the keys the JSON object data lacks.
func missingJSONKeys(t *testing.T, data json.RawMessage, keys []string) []string {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	var missing []string
	for _, k := range keys {
		if _, ok := obj[k]; !ok {
			missing = append(missing, k)
		}
	}
	return missing
}

// checkBenchProgress wants bench's stderr outside a terminal to be its
// progress lines, and nothing else (no bar): one once the model is warm, then
// one per batch size as it finishes, smallest first.
func checkBenchProgress(t *testing.T, stderr string, batches ...int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	ok := len(lines) == len(batches)+1 && strings.HasPrefix(lines[0], "bench: loaded in ") &&
		!strings.ContainsAny(stderr, "\r\x1b")
	for i, n := range batches {
		ok = ok && strings.HasPrefix(lines[i+1], fmt.Sprintf("bench: batch %d: ", n))
	}
	if !ok {
		t.Errorf("stderr %q; want a line once warm, then one per batch size %v", stderr, batches)
	}
}

// hrmd bench --json through the real command: one JSON document with every
// field, the figures consistent with the runs it made; the progress lines on
// stderr, in a pipe too.
func TestBenchJSON(t *testing.T) {
	r := runHrmd(t, "bench", "--model", demoBundle, "--batch", "2,1", "--runs", "3", "--json")
	if r.Code != 0 {
		t.Fatalf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	checkBenchProgress(t, r.Stderr, 1, 2)
	var raw struct {
		Model   json.RawMessage   `json:"model"`
		Batches []json.RawMessage `json:"batches"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &raw); err != nil {
		t.Fatal(err)
	}
	missing := missingJSONKeys(t, json.RawMessage(r.Stdout), benchKeys)
	missing = append(missing, missingJSONKeys(t, raw.Model, benchModelKeys)...)
	for _, b := range raw.Batches {
		missing = append(missing, missingJSONKeys(t, b, benchBatchKeys)...)
	}
	if len(missing) > 0 {
		t.Errorf("the report lacks %v:\n%s", missing, r.Stdout)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Model.Name != "halo-demo" || len(rep.Model.SHA256) != 64 ||
		rep.Model.FLOPsPerCycle == nil || *rep.Model.FLOPsPerCycle <= 0 ||
		rep.Provider != "CPUExecutionProvider" || rep.Precision != "fp32" ||
		rep.MaxBatch < 2 || rep.Cycles != 2 || rep.Runs != 3 ||
		rep.EngineCache != nil || rep.Jetson != nil || rep.PeakRSSBytes == nil || *rep.PeakRSSBytes < 1<<20 ||
		!strings.Contains(rep.Device, "not a Jetson") || rep.ONNXRuntime == "" ||
		rep.LoadMS <= 0 {
		t.Errorf("report %+v", rep)
	}
	if len(rep.Batches) != 2 {
		t.Fatalf("%d batch sizes, want 2: %+v", len(rep.Batches), rep.Batches)
	}
	for i, b := range rep.Batches {
		if want := i + 1; b.Batch != want || b.Runs != 3 || b.Rows != 3*want || b.CyclesRun != 2*3*want ||
			b.BatchMSP50 <= 0 || b.BatchMSP95 < b.BatchMSP50 || b.RowMSP50 != b.BatchMSP50/float64(want) ||
			b.RowsPerS <= 0 || b.GFLOPPerS == nil || *b.GFLOPPerS <= 0 || b.Seconds <= 0 {
			t.Errorf("batch %d: %+v", want, b)
		}
	}
}

// The text report, on a Jetson's fixture tree (temperatures and GPU load
// before and after) and on this host (not a Jetson).
func TestBenchText(t *testing.T) {
	orin := filepath.Join(repoRoot, "jetson", "testdata", "orin-nano")
	for _, tt := range []struct {
		sysroot string
		want    []string
	}{
		{orin, []string{"Jetson Orin Nano", "before   ", "after    ", "°C", "GPU load"}},
		{"/", []string{"not a Jetson: no temperatures or GPU load"}},
	} {
		r := runHrmd(
			t,
			"bench",
			"--model",
			demoBundle,
			"--batch",
			"1",
			"--runs",
			"2",
			"--cycles",
			"3",
			"--sysroot",
			tt.sysroot,
		)
		if r.Code != 0 {
			t.Fatalf("%s: exit %d, stderr %q", tt.sysroot, r.Code, r.Stderr)
		}
		checkBenchProgress(t, r.Stderr, 1)
		want := append([]string{"model    halo-demo (nova, sha256 ", "CPUExecutionProvider, fp32", "no TensorRT engine",
			"3 cycles every row (halting fixed)", "batch  batch p50", "peak RSS "}, tt.want...)
		for _, w := range want {
			if !strings.Contains(r.Stdout, w) {
				t.Errorf("%s: the report lacks %q:\n%s", tt.sysroot, w, r.Stdout)
			}
		}
		// One line for batch 1: 2 runs of 3 cycles.
		if !slices.ContainsFunc(strings.Split(r.Stdout, "\n"), func(l string) bool {
			f := strings.Fields(l)
			return len(f) > 0 && f[0] == "1" && f[len(f)-1] == "6"
		}) {
			t.Errorf("%s: no line for batch 1 with 6 cycles run:\n%s", tt.sysroot, r.Stdout)
		}
	}
	r := runHrmd(t, "bench", "--model", demoBundle, "--batch", "1", "--runs", "1", "--json", "--sysroot", orin)
	var rep benchReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("exit %d, %v: %s", r.Code, err, r.Stderr)
	}
	if j := rep.Jetson; j == nil || len(j.Before.Thermal) == 0 || j.Before.GPULoad == nil ||
		!reflect.DeepEqual(j.Before, j.After) {
		t.Errorf("jetson %+v: want the fixture's zones and GPU load, the same before and after", j)
	}
}

// A bad command line is refused before anything loads, naming the flag.
func TestBenchBadFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--batch", "0"}, `--batch "0": "0" is not a batch size; use sizes 1 to 256`},
		{[]string{"--batch", "1,,4"}, `--batch "1,,4": "" is not a batch size`},
		{[]string{"--batch", "1,two"}, `"two" is not a batch size`},
		{[]string{"--batch", "257"}, `"257" is not a batch size`},
		{[]string{"--runs", "0"}, "--runs is 0; use 1 or more"},
		{[]string{"--cycles", "-1"}, "--cycles -1: max cycles -1 is outside"},
		{[]string{"--cycles", "100000"}, "--cycles 100000"},
		{[]string{"--cycles", "many"}, `invalid value "many" for flag -cycles`},
		{[]string{"--batches", "1"}, "flag provided but not defined: -batches"},
		{[]string{"task.json"}, `bench takes no arguments, only flags; got "task.json"`},
	} {
		r := runHrmd(t, append([]string{"bench", "--model", demoBundle}, tt.args...)...)
		if r.Code != 2 || r.Stdout != "" || !strings.HasPrefix(r.Stderr, "error usage: bench") ||
			!strings.Contains(r.Stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tt.args, r.Code, r.Stderr, tt.want)
		}
	}
	r := runHrmd(t, "bench")
	if r.Code != 2 || !strings.Contains(r.Stderr, "bench needs a model: --model DIR") {
		t.Errorf("no model: exit %d, stderr %q", r.Code, r.Stderr)
	}
	r = runHrmd(t, "bench", "--model", filepath.Join(t.TempDir(), "none"))
	if r.Code == 0 || !strings.Contains(r.Stderr, "none") {
		t.Errorf("missing model: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

// The grids are the same on every run and fit the model's grid.
func TestBenchGrids(t *testing.T) {
	a, b := benchGrids(8, 30), benchGrids(8, 30)
	if !reflect.DeepEqual(a, b) {
		t.Error("two calls gave different grids")
	}
	for i, g := range a {
		if err := puzzles.CheckFits(g, 30, "grid"); err != nil || g.Rows() < 3 {
			t.Errorf("grid %d is %s: %v", i, g.Size(), err)
		}
	}
	if a[0].Equal(a[1]) {
		t.Error("the first two grids are the same: a batch would not hold different rows")
	}
	if g := benchGrids(1, 2)[0]; g.Rows() > 2 || g.Cols() > 2 {
		t.Errorf("a 2x2 model got a %s grid", g.Size())
	}
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tt := range []struct {
		p    int
		want time.Duration
	}{{50, 5}, {95, 10}, {10, 1}, {0, 1}, {100, 10}} {
		if got := percentile(d, tt.p); got != tt.want {
			t.Errorf("p%d = %d, want %d", tt.p, got, tt.want)
		}
	}
	if got := percentile([]time.Duration{7}, 95); got != 7 {
		t.Errorf("p95 of one run = %d", got)
	}
}

func TestPeakRSS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status")
	if err := os.WriteFile(path, []byte("Name:\thrmd\nVmPeak:\t  900000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t  100000 "+
		"kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := peakRSS(path); err != nil || got != 123456<<10 {
		t.Errorf("peakRSS = %d, %v; want %d", got, err, 123456<<10)
	}
	if err := os.WriteFile(path, []byte("Name:\thrmd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := peakRSS(path); err == nil || !strings.Contains(err.Error(), "no VmHWM") {
		t.Errorf("no VmHWM line: %v", err)
	}
}

// On TensorRT the report says which batch the engine's profile is tuned
// for, and which batches measured ran on kernels chosen for another (no
// TensorRT here: the report is made by hand).
func TestBenchTunedBatch(t *testing.T) {
	report := func(tuned int, batches ...int) *benchReport {
		rep := &benchReport{Provider: "TensorrtExecutionProvider", Precision: "fp16", MaxBatch: batches[len(batches)-1]}
		if tuned > 0 {
			rep.EngineCache = &benchEngineCache{Dir: "/var/cache/hrmd/trt/x", Found: true, TunedBatch: tuned}
		}
		for _, b := range batches {
			rep.Batches = append(rep.Batches, benchBatch{Batch: b, Runs: 1, Rows: b, Seconds: 1, RowsPerS: float64(b)})
		}
		return rep
	}
	const tuned4 = "tuned    the TensorRT engine's profile is tuned for batch 4 (it takes 1 to 4)"
	for _, tt := range []struct {
		rep           *benchReport
		want, notWant string
	}{
		{report(4, 1, 2, 4), tuned4 + ": batches 1, 2 ran on kernels chosen for 4; --batch N alone measures N on an engine " +
			"tuned for it (another build)\n", ""},
		{report(4, 4), tuned4 + "\n", "ran on kernels"},
		{report(2, 1, 2), "tuned for batch 2 (it takes 1 to 2): batch 1 ran on kernels chosen for 2;", ""},
		{report(0, 1, 2), "", "tuned "},
	} {
		var out strings.Builder
		printBench(&out, tt.rep)
		if !strings.Contains(out.String(), tt.want) || (tt.notWant != "" && strings.Contains(out.String(), tt.notWant)) {
			t.Errorf("want %q, not %q:\n%s", tt.want, tt.notWant, out.String())
		}
	}
	var out strings.Builder
	if err := writeBenchJSON(&out, report(4, 1, 4)); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		EngineCache json.RawMessage `json:"engine_cache"`
	}
	if err := json.Unmarshal([]byte(out.String()), &raw); err != nil {
		t.Fatal(err)
	}
	if missing := missingJSONKeys(t, raw.EngineCache, benchEngineCacheKeys); len(missing) > 0 {
		t.Errorf("engine_cache lacks %v: %s", missing, raw.EngineCache)
	}
	if !strings.Contains(string(raw.EngineCache), `"tuned_batch": 4`) {
		t.Errorf("engine_cache %s, want tuned_batch 4", raw.EngineCache)
	}
}
