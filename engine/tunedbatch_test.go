//go:build cgo

package engine

import (
	"strings"
	"testing"
)

// A TensorRT model says which batch its engine is tuned for: the batch
// its profile's opt shapes carry, which is its MaxBatch. A model on the
// CPU has no engine to be tuned.
func TestTunedBatch(t *testing.T) {
	rt, _ := openRuntime(t, trtConfig(t))
	playTensorRT(rt)
	m, err := loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 3})
	if err != nil {
		t.Fatal(err)
	}
	if m.TunedBatch() != 3 {
		t.Fatalf("tuned for batch %d, want 3", m.TunedBatch())
	}
	profile := []tensorShape{{name: "h", row: []int64{900, 32}}}
	options := rt.tensorRTOptions(rt.engineBuild(m.Precision(), m.MaxBatch()), profile, "")
	if opt := options["trt_profile_opt_shapes"]; !strings.HasPrefix(opt, "h:3x") {
		t.Errorf("the engine's opt shapes are %q; TunedBatch says 3", opt)
	}
	rt.cfg.Providers = []string{ProviderCPU}
	if m := loadModel(t, rt, fixtureDir, 3); m.Provider() != "CPUExecutionProvider" || m.TunedBatch() != 0 {
		t.Errorf("a CPU model is tuned for batch %d, want 0", m.TunedBatch())
	}
}
