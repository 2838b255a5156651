package daemon

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"gopkg.in/yaml.v3"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/puzzles"
)

// inProcess is a daemon run by Run in the test's own process, on a spool in
// t.TempDir(): the tiny model on the CPU, no HTTP, no signals.
type inProcess struct {
	t      *testing.T
	cfg    config.Config
	path   string // hrmd.yaml
	d      *Daemon
	cancel context.CancelCauseFunc
	done   chan error // Run's result
}

// startInProcess writes the config (edit changes it) and starts Run.
func startInProcess(t *testing.T, edit func(*config.Config)) *inProcess {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Inbox, cfg.Outbox = filepath.Join(dir, "inbox"), filepath.Join(dir, "outbox")
	cfg.Spool = filepath.Join(dir, "spool")
	cfg.Model = filepath.Join("..", "engine", "testdata", "nova-tiny")
	cfg.ONNXRuntime.Providers = []string{"cpu"}
	cfg.TensorRT.EngineCache = filepath.Join(dir, "trt")
	cfg.HTTP.Listen = ""
	cfg.Watch.Settle, cfg.Watch.Rescan = config.Duration(50*time.Millisecond), config.Duration(time.Second)
	if edit != nil {
		edit(&cfg)
	}
	p := &inProcess{t: t, cfg: cfg, path: filepath.Join(dir, "hrmd.yaml"), done: make(chan error, 1)}
	p.writeConfig(cfg)
	d, err := New(Options{ConfigPath: p.path, Config: cfg, Instance: "test", ShutdownTimeout: 10 * time.Second,
		Sysroot: "/", Version: "test", Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	p.d = d
	ctx, cancel := context.WithCancelCause(context.Background())
	p.cancel = cancel
	go func() { p.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel(nil)
		<-p.done
	})
	return p
}

func (p *inProcess) writeConfig(cfg config.Config) {
	p.t.Helper()
	data, err := yaml.Marshal(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(p.path, data, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// waitReady waits until the daemon serves.
func (p *inProcess) waitReady() {
	p.t.Helper()
	testenv.WaitFor(p.t, 60*time.Second, "ready", p.d.d.ready.Load)
}

// answer drops task as name and returns its answer file, once the input is in done/.
func (p *inProcess) answer(name string, task []byte) puzzles.AnswerFile {
	p.t.Helper()
	testenv.WriteFile(p.t, p.cfg.Inbox, name, string(task))
	l := p.cfg.Layout("test")
	testenv.WaitFor(p.t, 60*time.Second, name+" answered", func() bool {
		_, err := os.Stat(filepath.Join(l.Done(), name))
		return err == nil
	})
	var a puzzles.AnswerFile
	testenv.ReadJSON(p.t, filepath.Join(l.Outbox, name), &a)
	return a
}

// stop cancels Run as the command does on a signal and returns Run's result.
func (p *inProcess) stop() error {
	p.t.Helper()
	p.cancel(errors.New("terminated"))
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err
	case <-time.After(60 * time.Second):
		p.t.Fatal("Run did not return after its context ended")
		return nil
	}
}

// modelInUse is the model hrmd_provider_info names: the worker's.
func (p *inProcess) modelInUse() string {
	families, err := p.d.d.metrics.registry.Gather()
	if err != nil {
		p.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "hrmd_provider_info" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "model" {
					return l.GetValue()
				}
			}
		}
	}
	return ""
}

// Run answers a file dropped into the inbox and, once its context ends,
// returns nil with the input in done/ and nothing left in work/.
func TestInProcessAnswersAndStops(t *testing.T) {
	p := startInProcess(t, nil)
	p.waitReady()
	if a := p.answer("a.json", someTask(t)); a.Model.Name != "nova-tiny" || len(a.Answers) == 0 {
		t.Fatalf("answer: model %q, %d answers", a.Model.Name, len(a.Answers))
	}
	if err := p.stop(); err != nil {
		t.Fatalf("Run returned %v after cancel", err)
	}
	if left := testenv.Names(p.cfg.Layout("test").Work()); len(left) != 0 {
		t.Errorf("left in work/: %v", left)
	}
}

// Reload reads the config again and the worker takes its new model: the
// next file is answered by it. A config that does not load is refused and
// the model in use stays.
func TestInProcessReload(t *testing.T) {
	p := startInProcess(t, nil)
	p.waitReady()
	task := someTask(t)
	cfg := p.cfg
	cfg.Model = filepath.Join("..", "engine", "testdata", "nova-zero")
	p.writeConfig(cfg)
	p.d.Reload()
	testenv.WaitFor(t, 60*time.Second, "nova-zero in use", func() bool { return p.modelInUse() == "nova-zero" })
	if a := p.answer("a.json", task); a.Model.Name != "nova-zero" {
		t.Errorf("after the reload: answered by %q", a.Model.Name)
	}

	if err := os.WriteFile(p.path, []byte("inference: {max_batch: 0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.d.Reload()
	failed := p.d.d.metrics.reloads.WithLabelValues("failed")
	testenv.WaitFor(t, 60*time.Second, "the broken config refused", func() bool { return testutil.ToFloat64(failed) == 1 })
	if a := p.answer("b.json", task); a.Model.Name != "nova-zero" {
		t.Errorf("after a broken config: answered by %q", a.Model.Name)
	}
	if err := p.stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

// A cancel while the first model loads stops the load and Run returns nil
// without ever being ready; a Reload meanwhile changes nothing. The load
// here reads a manifest that is a pipe: the test's open of its writing end
// returns once the load is reading it.
func TestInProcessCancelDuringLoad(t *testing.T) {
	model := testenv.CopyDir(t, filepath.Join("..", "engine", "testdata", "nova-tiny"))
	manifest := filepath.Join(model, "hrm.yaml")
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(manifest); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	p := startInProcess(t, func(c *config.Config) { c.Model = model })
	pipe, err := os.OpenFile(manifest, os.O_WRONLY, 0) // blocks until the load opens it
	if err != nil {
		t.Fatal(err)
	}
	p.d.Reload()
	p.cancel(errors.New("terminated"))
	// The load goes on once it has its manifest; its warm-up sees the cancel.
	if _, err := pipe.Write(data); err != nil {
		t.Fatal(err)
	}
	pipe.Close()
	if err := <-p.done; err != nil {
		t.Fatalf("Run returned %v after a cancel during the load", err)
	}
	p.done <- nil
	if p.d.d.ready.Load() {
		t.Error("ready after a cancel during the load")
	}
	if n := testutil.ToFloat64(p.d.d.metrics.reloads.WithLabelValues("ok")); n != 0 {
		t.Errorf("%v reloads after a cancel during the load", n)
	}
}
