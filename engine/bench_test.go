//go:build cgo

package engine

import (
	"context"
	"fmt"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/hrmd/hrmd/internal/testenv"
)

// benchEach runs body as a sub-benchmark for every bundle of
// testenv.BenchModels at batch 1 and 4, with the model loaded and the rows
// set, and reports GFLOP/s from the manifest's dimensions for the
// input-cycles that body says one iteration does.
func benchEach(b *testing.B, body func(b *testing.B, m *Model, rows [][]int64) (cyclesPerOp int)) {
	g := testenv.ReadGolden(b, fixtureDir)
	cfg := DefaultConfig()
	cfg.Providers = []string{ProviderCPU} // ONNX Runtime's default threads, one per core, as the daemon runs
	rt, _ := openRuntime(b, cfg)
	for _, model := range testenv.BenchModels(b) {
		for _, batch := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/batch%d", model[0], batch), func(b *testing.B) {
				m := loadModel(b, rt, model[1], batch)
				cycles := body(b, m, goldenTokens(g)[:batch])
				if flops, ok := m.bundle.FLOPsPerCycle(); ok {
					b.ReportMetric(flops*float64(cycles*b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				}
			})
		}
	}
}

// BenchmarkStep times one reasoning cycle (step.onnx) on a batch, the unit of
// work the daemon repeats; the states ping-pong between the two halves of
// their buffers exactly as in a run.
func BenchmarkStep(b *testing.B) {
	benchEach(b, func(b *testing.B, m *Model, rows [][]int64) int {
		for i, row := range rows {
			copy(m.tokens[i*m.seq:], row)
		}
		v, err := m.batch(len(rows))
		if err != nil {
			b.Fatal(err)
		}
		if err := m.init.Run([]ort.Value{v.tokens}, v.initOut); err != nil {
			b.Fatal(err)
		}
		// A first step outside the timing: ONNX Runtime plans its memory on the first run.
		if err := m.step.Run(v.stepIn[0], v.stepOut[0]); err != nil {
			b.Fatal(err)
		}
		p := 1
		for b.Loop() {
			if err := m.step.Run(v.stepIn[p], v.stepOut[p]); err != nil {
				b.Fatal(err)
			}
			p = 1 - p
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/step")
		return len(rows)
	})
}

// BenchmarkRun times whole runs (init and 8 fixed cycles) of real ARC inputs;
// ns/row compares with the PyTorch reference (engine/export/bench_torch.py).
func BenchmarkRun(b *testing.B) {
	benchEach(b, func(b *testing.B, m *Model, rows [][]int64) int {
		opts := RunOptions{Halting: HaltFixed}
		if _, err := m.Run(context.Background(), rows, opts); err != nil { // warm-up
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := m.Run(context.Background(), rows, opts); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
		return len(rows) * m.bundle.Manifest.Halting.MaxCycles
	})
}
