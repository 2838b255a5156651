package daemon

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/jetson"
)

// sharedClock is a fakeClock that the logging goroutine may read while the
// test moves it.
type sharedClock struct {
	mu sync.Mutex
	fakeClock
}

func (c *sharedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fakeClock.now()
}

func (c *sharedClock) advance(by time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fakeClock.advance(by)
}

// The stages of a load as the engine reports them: each is logged as it
// starts and ends, described with its elapsed time for /readyz and
// STATUS=, and logged again at each tick while it runs; the zero stage
// ends it.
func TestLoadProgress(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	clock := &sharedClock{fakeClock: fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}}
	p := newLoadProgress(zap.New(core), clock.now)
	if got := p.describe(); got != "" {
		t.Errorf("before any stage: %q", got)
	}
	// follow runs logEvery until its load ends; here the test ends it, so
	// that every tick sent has been handled before the stage changes.
	logTicks := func(ticks ...time.Time) {
		tick, done, returned := make(chan time.Time), make(chan struct{}), make(chan struct{})
		go func() { defer close(returned); p.logEvery(done, tick) }()
		for _, at := range ticks {
			tick <- at
		}
		close(done)
		<-returned
	}

	p.report(engine.LoadStage{What: "building TensorRT engine", Graph: "step.onnx", Since: clock.now()})
	clock.advance(90 * time.Second)
	if got, want := p.describe(), "building TensorRT engine for step.onnx, 1m30s"; got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
	logTicks(clock.now())
	clock.advance(30 * time.Second)
	logTicks(clock.now())
	p.report(engine.LoadStage{What: "checking fp16 against fp32", Since: clock.now()})
	clock.advance(5 * time.Second)
	if got, want := p.describe(), "checking fp16 against fp32, 5s"; got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
	p.report(engine.LoadStage{})
	if got := p.describe(); got != "" {
		t.Errorf("after the load: %q", got)
	}
	logTicks(clock.now()) // no stage: nothing logged

	want := []struct {
		msg, key string
		value    time.Duration
	}{
		{"building TensorRT engine for step.onnx", "elapsed", 0},
		{"building TensorRT engine for step.onnx", "elapsed", 90 * time.Second},
		{"building TensorRT engine for step.onnx", "elapsed", 120 * time.Second},
		{"building TensorRT engine for step.onnx: done", "took", 120 * time.Second},
		{"checking fp16 against fp32", "elapsed", 0},
		{"checking fp16 against fp32: done", "took", 5 * time.Second},
	}
	got := logs.All()
	if len(got) != len(want) {
		t.Fatalf("%d log lines, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Message != w.msg || got[i].ContextMap()[w.key] != w.value {
			t.Errorf("line %d: %q %v, want %q with %s %v", i, got[i].Message, got[i].ContextMap(), w.msg, w.key, w.value)
		}
	}
}

// A stage the engine gives no start time is timed from when it was heard of.
func TestLoadProgressWithoutSince(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	p := newLoadProgress(zap.NewNop(), clock.now)
	p.report(engine.LoadStage{What: "building TensorRT engine", Graph: "init.onnx"})
	clock.advance(3 * time.Second)
	if got, want := p.describe(), "building TensorRT engine for init.onnx, 3s"; got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
}

// Degraded is a Jetson configured for its GPU whose model runs on the
// CPU, or on CUDA where TensorRT came first; nothing else is.
func TestCheckDegraded(t *testing.T) {
	orin, pc := jetson.Device{Jetson: true}, jetson.Device{}
	cpu, trt, cuda := engine.ORTProviderName(engine.ProviderCPU), engine.ORTProviderName(engine.ProviderTensorRT), engine.ORTProviderName(engine.ProviderCUDA)
	missing := func() []engine.ProviderStatus {
		return []engine.ProviderStatus{
			{Name: "tensorrt", Reason: "Failed to load library\nlibonnxruntime_providers_tensorrt.so"},
			{Name: "cuda", Reason: "Failed to load library libonnxruntime_providers_cuda.so"},
			{Name: "cpu", Available: true},
		}
	}
	failing := func() []engine.ProviderStatus {
		return []engine.ProviderStatus{{Name: "tensorrt", Available: true}, {Name: "cuda", Available: true}, {Name: "cpu", Available: true}}
	}
	for _, tt := range []struct {
		name      string
		dev       jetson.Device
		providers []string
		running   string
		probe     func() []engine.ProviderStatus
		code      string // "" = not degraded
		reason    string
	}{
		{"orin, default chain, GPU providers missing", orin, []string{"tensorrt", "cuda", "cpu"}, cpu, missing, DegradedGPUUnavailable,
			"running on the CPU although onnxruntime.providers starts with tensorrt: TensorrtExecutionProvider unavailable: Failed to load library libonnxruntime_providers_tensorrt.so; " +
				"CUDAExecutionProvider unavailable: Failed to load library libonnxruntime_providers_cuda.so"},
		{"orin, cuda first, failing on the model", orin, []string{"cuda", "cpu"}, cpu, failing, DegradedGPUFailed,
			"running on the CPU although onnxruntime.providers starts with cuda: CUDAExecutionProvider loads but failed to take the model (the log line before says why)"},
		{"orin on TensorRT", orin, []string{"tensorrt", "cuda", "cpu"}, trt, missing, "", ""},
		{"orin on CUDA, TensorRT failing on the model", orin, []string{"tensorrt", "cuda", "cpu"}, cuda, failing, DegradedTensorRTFailed,
			"running on CUDA although onnxruntime.providers starts with tensorrt: TensorrtExecutionProvider loads but failed to take the model (the log line before says why)"},
		{"orin on CUDA, TensorRT missing", orin, []string{"tensorrt", "cuda", "cpu"}, cuda, missing, DegradedTensorRTUnavailable,
			"running on CUDA although onnxruntime.providers starts with tensorrt: TensorrtExecutionProvider unavailable: Failed to load library libonnxruntime_providers_tensorrt.so"},
		{"orin configured for CUDA", orin, []string{"cuda", "cpu"}, cuda, missing, "", ""},
		{"a PC on CUDA", pc, []string{"tensorrt", "cuda", "cpu"}, cuda, failing, "", ""},
		{"orin configured for the CPU", orin, []string{"cpu"}, cpu, missing, "", ""},
		{"orin, cpu first", orin, []string{"cpu", "tensorrt"}, cpu, missing, "", ""},
		{"a PC without a GPU", pc, []string{"tensorrt", "cuda", "cpu"}, cpu, missing, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := CheckDegraded(tt.dev, tt.providers, tt.running, tt.probe)
			switch {
			case tt.code == "" && got != nil:
				t.Errorf("degraded: %+v", *got)
			case tt.code != "" && got == nil:
				t.Error("not degraded")
			case got != nil && (got.Code != tt.code || got.Reason != tt.reason):
				t.Errorf("got %s %q\nwant %s %q", got.Code, got.Reason, tt.code, tt.reason)
			}
		})
	}
}
