package answer

import (
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/internal/testenv"
)

var (
	tinyBundle = filepath.Join("..", "..", "engine", "testdata", "nova-tiny")
	// demoBundle is the committed, trained demo model (engine/export/train_demo.py).
	demoBundle = filepath.Join("..", "..", "engine", "models", "demo")
)

// cpuRuntime opens onnxruntime with the CPU provider only (one runtime at a
// time in a process), closed when the test ends, after its models.
func cpuRuntime(tb testing.TB) *engine.Runtime {
	tb.Helper()
	cfg := engine.DefaultConfig()
	cfg.Providers, cfg.Library = []string{engine.ProviderCPU}, testenv.ORTLibrary(tb)
	rt, err := engine.Open(cfg, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rt.Close() })
	return rt
}

// solverFor loads the bundle at dir on rt, for batches of maxBatch.
func solverFor(tb testing.TB, rt *engine.Runtime, dir string, maxBatch int, opts Options) *Solver {
	tb.Helper()
	b, err := bundle.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := rt.LoadModel(b, engine.ModelOptions{MaxBatch: maxBatch})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return &Solver{Model: m, Assembler: NewAssembler(m, "test", false), Options: opts}
}
