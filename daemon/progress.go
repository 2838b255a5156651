package daemon

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/jetson"
)

// progressLogEvery is how often a load stage still running is logged: a
// TensorRT build on a Jetson takes minutes, and a log that says nothing for
// that long reads like a hang.
const progressLogEvery = 30 * time.Second

// loadProgress follows the stages of the model load in progress (the
// engine's ModelOptions.Progress): it logs each stage as it starts, ends and
// every progressLogEvery in between, and describes the one running for
// /readyz and systemd's STATUS=. Loads run one at a time, so one is enough.
type loadProgress struct {
	log *zap.Logger
	now func() time.Time // a test's clock, or time.Now

	mu      sync.Mutex
	stage   engine.LoadStage // What "" while no stage runs
	started time.Time        // when the stage began: its Since, or when it was heard of
}

func newLoadProgress(log *zap.Logger, now func() time.Time) *loadProgress {
	return &loadProgress{log: log, now: now}
}

// report is the engine's Progress func: a new stage, or the zero LoadStage
// once the load is over (the daemon reports that too after every load, so
// that a load that failed mid-stage does not leave it running).
func (p *loadProgress) report(s engine.LoadStage) {
	p.mu.Lock()
	prev, prevStarted := p.stage, p.started
	p.stage, p.started = s, s.Since
	if s.What != "" && s.Since.IsZero() {
		p.started = p.now()
	}
	p.mu.Unlock()
	if prev.What != "" && prev != s {
		p.log.Info(
			prev.String()+": done",
			zap.String("graph", prev.Graph),
			zap.Duration("took", p.now().Sub(prevStarted).Round(time.Second)),
		)
	}
	if s.What != "" && prev != s {
		p.log.Info(s.String(), zap.String("graph", s.Graph), zap.Duration("elapsed", time.Duration(0)))
	}
}

// describe is the stage running, with how long it has run ("building
// TensorRT engine for step.onnx, 2m30s"), or "" when none is.
func (p *loadProgress) describe() string {
	s, elapsed := p.current()
	if s.What == "" {
		return ""
	}
	return s.String() + ", " + elapsed.String()
}

func (p *loadProgress) current() (engine.LoadStage, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stage, p.now().Sub(p.started).Round(time.Second)
}

// logEvery logs the stage running at every tick until done is closed.
func (p *loadProgress) logEvery(done <-chan struct{}, tick <-chan time.Time) {
	for {
		select {
		case <-done:
			return
		case <-tick:
			if s, elapsed := p.current(); s.What != "" {
				p.log.Info(s.String(), zap.String("graph", s.Graph), zap.Duration("elapsed", elapsed))
			}
		}
	}
}

// follow starts logging the stages of a load every progressLogEvery; the
// function it returns ends that and marks the load over.
func (p *loadProgress) follow() (stop func()) {
	done := make(chan struct{})
	ticker := time.NewTicker(progressLogEvery)
	go p.logEvery(done, ticker.C)
	return func() {
		ticker.Stop()
		close(done)
		p.report(engine.LoadStage{})
	}
}

// watched adds to opts what lets a load be followed and checked: the
// progress of its stages, and the memory a TensorRT build may take.
func (d *daemon) watched(opts engine.ModelOptions) engine.ModelOptions {
	opts.Progress = d.progress.report
	opts.MemAvailable = jetson.NewFS(d.opts.Sysroot).MemAvailable
	return opts
}
