//go:build cgo

package engine

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/hrmd/hrmd/engine/bundle"
)

// Run on the CPU for real, the profiles of nova-tiny's sessions say that
// the CPU provider ran every node of both graphs. NoCPUFallback is set as
// hrmd doctor --deep sets it: it must leave a CPU session alone (there it
// would fail every session). The profiles are there only once the model is
// closed.
func TestPlacementsOnCPU(t *testing.T) {
	cfg := DefaultConfig() // tensorrt, cuda, cpu: this library has only the CPU
	cfg.TensorRT.EngineCache = filepath.Join(t.TempDir(), "trt")
	rt, _ := openRuntime(t, cfg)
	b, err := bundle.Load(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	profiles := t.TempDir()
	m, err := rt.LoadModel(b, ModelOptions{MaxBatch: 1, NoCPUFallback: true, ProfileDir: profiles})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	row := make([]int64, b.Seq())
	if _, err := m.Run(context.Background(), [][]int64{row}, RunOptions{Halting: HaltFixed, MaxCycles: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Placements(); err == nil || !strings.Contains(err.Error(), "is open") {
		t.Errorf("placements of an open model: %v, want an error saying it is open", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := m.Placements()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Graph != "init.onnx" || got[1].Graph != "step.onnx" {
		t.Fatalf("placements %v, want init.onnx and step.onnx", got)
	}
	for _, p := range got {
		if n := p.Nodes["CPUExecutionProvider"]; n == 0 || len(p.Nodes) != 1 {
			t.Errorf("%s: %v, want every node on the CPU", p.Graph, p.Nodes)
		}
		if want := p.Graph + ": "; !strings.HasPrefix(p.String(), want) ||
			!strings.HasSuffix(p.String(), " nodes on CPUExecutionProvider") {
			t.Errorf("%q", p.String())
		}
	}
}

// session.disable_cpu_ep_fallback goes only on a session that TensorRT
// heads; on the CPU alone the real library fails the session with it,
// which is why CPU (and CUDA) sessions are left alone.
func TestNoCPUFallbackOnlyOnTensorRT(t *testing.T) {
	openRuntime(t, cpuConfig()) // the environment the session options need
	for _, tt := range []struct {
		chain []string
		set   bool
	}{
		{[]string{ProviderTensorRT, ProviderCUDA, ProviderCPU}, true},
		{[]string{ProviderCUDA, ProviderCPU}, false},
		{[]string{ProviderCPU}, false},
	} {
		so, err := ort.NewSessionOptions()
		if err != nil {
			t.Fatal(err)
		}
		defer so.Destroy()
		if err := (sessionSpec{chain: tt.chain, noCPUFallback: true}).applySettings(so); err != nil {
			t.Fatal(err)
		}
		if set, err := so.HasSessionConfigEntry(disableCPUFallbackKey); err != nil || set != tt.set {
			t.Errorf("%v: %s set %v (%v), want %v", tt.chain, disableCPUFallbackKey, set, err, tt.set)
		}
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	if err := so.AddSessionConfigEntry(disableCPUFallbackKey, "1"); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Load(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	g := b.Manifest.Graphs.Step
	s, err := ort.NewDynamicAdvancedSession(b.Path(g.File), g.Inputs, g.Outputs, so)
	if err == nil {
		s.Destroy()
		t.Fatal("a CPU session with CPU fallback disabled loaded")
	}
	if !strings.Contains(err.Error(), "fallback to CPU EP has been explicitly disabled") {
		t.Errorf("error %v, want onnxruntime's message about the disabled fallback", err)
	}
}

// A provider that fails to take the model is told to OnFallback, with
// why, before the next one takes it.
func TestOnFallback(t *testing.T) {
	rt, _ := openRuntime(t, trtConfig(t))
	fake := playTensorRT(rt)
	fake.failBuild = errors.New("TensorRT EP failed to create engine from network")
	var heard []string
	m, err := loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1, OnFallback: func(provider string, err error) {
		heard = append(heard, provider+": "+err.Error())
	}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Provider() != "CPUExecutionProvider" || len(heard) != 1 ||
		!strings.HasPrefix(
			heard[0],
			"TensorrtExecutionProvider: ",
		) || !strings.Contains(heard[0], "failed to create engine") {
		t.Errorf("on %s, heard %q; want TensorRT's failure once", m.Provider(), heard)
	}
}
