//go:build cgo

package engine

import (
	"context"
	"os"
	"testing"
)

// BenchmarkRun times full runs (init and 8 fixed cycles) of real ARC inputs.
// ns/row is the figure to compare across batch sizes: batching pays when
// ns/row falls as the batch grows. HRMD_BENCH_FULL_MODEL (./build.sh bench
// sets it) adds the full-size nova model.
func BenchmarkRun(b *testing.B) {
	models := map[string]string{"tiny": fixtureDir}
	if full := os.Getenv("HRMD_BENCH_FULL_MODEL"); full != "" {
		models["full"] = full
	}
	g := readGolden(b)
	cfg := DefaultConfig()
	cfg.Providers = []string{ProviderCPU}
	rt, _ := openRuntime(b, cfg)
	for name, dir := range models {
		for _, batch := range []int{1, 4} {
			b.Run(name+"/batch"+string(rune('0'+batch)), func(b *testing.B) {
				m := loadModel(b, rt, dir, batch)
				rows := goldenTokens(g)[:batch]
				opts := RunOptions{Halting: HaltFixed}
				if _, err := m.Run(context.Background(), rows, opts); err != nil { // warm-up
					b.Fatal(err)
				}
				b.ResetTimer()
				for b.Loop() {
					if _, err := m.Run(context.Background(), rows, opts); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/row")
			})
		}
	}
}
