//go:build cgo

package engine

import (
	"context"
	"fmt"
	"os"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// benchModels are the bundles to benchmark: the tiny fixture, and the
// full-size nova bundle that ./build.sh bench exports ($HRMD_BENCH_FULL_MODEL).
func benchModels() [][2]string {
	models := [][2]string{{"tiny", fixtureDir}}
	if full := os.Getenv("HRMD_BENCH_FULL_MODEL"); full != "" {
		models = append(models, [2]string{"full", full})
	}
	return models
}

// reportGFLOPs adds GFLOP/s from the manifest's dimensions, for cycles
// input-cycles done in the benchmark's time.
func reportGFLOPs(b *testing.B, m *Model, cycles int) {
	if flops, ok := m.bundle.FLOPsPerCycle(); ok {
		b.ReportMetric(flops*float64(cycles)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	}
}

// BenchmarkStep times one reasoning cycle (step.onnx) on a batch, the unit of
// work the daemon repeats; the states ping-pong between the two halves of
// their buffers exactly as in a run.
func BenchmarkStep(b *testing.B) {
	g := readGolden(b, fixtureDir)
	rt, _ := openRuntime(b, cpuConfig2Threads())
	for _, model := range benchModels() {
		for _, batch := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/batch%d", model[0], batch), func(b *testing.B) {
				m := loadModel(b, rt, model[1], batch)
				for i, row := range goldenTokens(g)[:batch] {
					copy(m.tokens[i*m.seq:], row)
				}
				v, err := m.batch(batch)
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
				reportGFLOPs(b, m, b.N*batch)
			})
		}
	}
}

// BenchmarkRun times whole runs (init and 8 fixed cycles) of real ARC inputs;
// ns/row compares with the PyTorch reference (engine/export/bench_torch.py).
func BenchmarkRun(b *testing.B) {
	g := readGolden(b, fixtureDir)
	rt, _ := openRuntime(b, cpuConfig2Threads())
	for _, model := range benchModels() {
		for _, batch := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/batch%d", model[0], batch), func(b *testing.B) {
				m := loadModel(b, rt, model[1], batch)
				rows := goldenTokens(g)[:batch]
				opts := RunOptions{Halting: HaltFixed}
				if _, err := m.Run(context.Background(), rows, opts); err != nil { // warm-up
					b.Fatal(err)
				}
				for b.Loop() {
					if _, err := m.Run(context.Background(), rows, opts); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/row")
				reportGFLOPs(b, m, b.N*batch*m.bundle.Manifest.Halting.MaxCycles)
			})
		}
	}
}

// cpuConfig2Threads is the CPU configuration with ONNX Runtime's default
// threads (one per core), as the daemon runs by default.
func cpuConfig2Threads() Config {
	cfg := DefaultConfig()
	cfg.Providers = []string{ProviderCPU}
	return cfg
}
