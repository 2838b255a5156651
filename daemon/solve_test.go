package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/puzzles"
)

// `hrmd solve` with a full-size (6.95M) random nova bundle answers real ARC
// tasks exactly as PyTorch does for the same weights.
func TestSolveFullSize(t *testing.T) {
	dir := testenv.FullBundle(t)
	g := readGoldenAt(t, dir)
	for _, c := range g.Cases {
		rel := strings.Fields(c.Source)[1]
		r := runHrmd(t, "solve", filepath.Join(arcDir, rel), "--model", dir)
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s", rel, r.code, r.stderr)
		}
		var a puzzles.AnswerFile
		if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
			t.Fatal(err)
		}
		got := a.Answers[0]
		if !got.Attempt1.Equal(c.Decoded) || got.Attempt1 == nil || got.Cycles != c.HaltCycle || got.HaltedBy != c.HaltedBy {
			t.Errorf("%s: %s grid after %d cycles by %s; PyTorch %s after %d by %s", rel, got.Attempt1.Size(), got.Cycles, got.HaltedBy, c.Decoded.Size(), c.HaltCycle, c.HaltedBy)
		}
		if a.Model.Name != filepath.Base(dir) {
			t.Errorf("model %+v", a.Model)
		}
	}
}

// BenchmarkSolve times answering one real ARC task (3631a71a: a 30x30 test
// input and 4 demonstrations, run together for the demo check) with the
// engine loaded once, as the daemon does: encode, 8 fixed cycles, decode.
func BenchmarkSolve(b *testing.B) {
	models := testenv.BenchModels(b)
	file, err := puzzles.ReadFile(filepath.Join(arcDir, "training", "3631a71a.json"), 0)
	if err != nil {
		b.Fatal(err)
	}
	rows := len(file.Tasks[0].Test) + len(file.Tasks[0].Train)
	rt := openCPURuntime(b)
	for _, model := range models {
		for _, maxBatch := range []int{1, rows} {
			b.Run(fmt.Sprintf("%s/max_batch%d", model[0], maxBatch), func(b *testing.B) {
				bundle, err := engine.LoadBundle(model[1])
				if err != nil {
					b.Fatal(err)
				}
				m, err := rt.LoadModel(bundle, engine.ModelOptions{MaxBatch: maxBatch})
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				s := &Solver{Model: m, Device: "bench", DemoCheck: true, Run: engine.RunOptions{Halting: engine.HaltFixed}}
				if _, err := s.Solve(context.Background(), file); err != nil { // warm-up
					b.Fatal(err)
				}
				for b.Loop() {
					if _, err := s.Solve(context.Background(), file); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/task")
				if flops, ok := bundle.FLOPsPerCycle(); ok {
					cycles := float64(b.N * rows * bundle.Manifest.Halting.MaxCycles)
					b.ReportMetric(flops*cycles/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				}
			})
		}
	}
}

// openCPURuntime opens onnxruntime with the CPU provider only, closed when the test ends.
func openCPURuntime(tb testing.TB) *engine.Runtime {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.ONNXRuntime.Providers = []string{engine.ProviderCPU}
	cfg.ONNXRuntime.Library = testenv.ORTLibrary(tb)
	rt, err := engine.Open(cfg.Engine(), zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rt.Close() })
	return rt
}
