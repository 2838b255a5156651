package daemon

import (
	"testing"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/engine/bundle"
)

// On the CPU provider max_batch auto loads the model for batches of 1, and
// the worker's batches follow the model, not the config; a number is kept.
// (This needs the engine to honour ModelOptions.CPUMaxBatch.)
func TestMaxBatchOnTheCPU(t *testing.T) {
	rt := cpuRuntime(t)
	b, err := bundle.Load(tinyBundle)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		batch config.MaxBatch
		want  int
	}{{config.MaxBatchAuto, 1}, {3, 3}} {
		cfg := config.Default()
		cfg.Inference.MaxBatch = tt.batch
		m, err := rt.LoadModel(b, cfg.ModelOptions())
		if err != nil {
			t.Fatal(err)
		}
		s := settingsFor(cfg, &loadedModel{model: m})
		if m.MaxBatch() != tt.want || s.maxBatch != tt.want {
			t.Errorf(
				"max_batch %v on the CPU: the model runs batches of %d, the worker fills %d; want %d",
				tt.batch,
				m.MaxBatch(),
				s.maxBatch,
				tt.want,
			)
		}
		m.Close()
	}
}
