package answer

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/puzzles"
)

// BenchmarkSolve times answering one real ARC task (3631a71a: a 30x30 test
// input and 4 demonstrations, run together for the demo check) with the
// engine loaded once, as the daemon does: encode, 8 fixed cycles, decode.
func BenchmarkSolve(b *testing.B) {
	models := testenv.BenchModels(b)
	file, err := puzzles.ReadFile(filepath.Join(testenv.ARCDir(b), "training", "3631a71a.json"), puzzles.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	rows := len(file.Tasks[0].Test) + len(file.Tasks[0].Train)
	rt := cpuRuntime(b)
	for _, model := range models {
		for _, maxBatch := range []int{1, rows} {
			b.Run(fmt.Sprintf("%s/max_batch%d", model[0], maxBatch), func(b *testing.B) {
				s := solverFor(b, rt, model[1], maxBatch, Options{DemoCheck: true})
				s.Run = engine.RunOptions{Halting: engine.HaltFixed}
				bundle := s.Model.Bundle()
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
