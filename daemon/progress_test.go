package daemon

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hrmd/hrmd/engine"
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
