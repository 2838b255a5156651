package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/jetson"
	"github.com/hrmd/hrmd/puzzles"
)

// lingerBatch is how long the worker waits for more files to fill a batch.
const lingerBatch = 5 * time.Millisecond

// daemon is one running `hrmd run`.
type daemon struct {
	configPath string
	cfg        Config // as loaded, or last reloaded
	log        *zap.Logger
	level      zap.AtomicLevel
	notify     notifier
	metrics    *metrics
	spool      *Spool
	rt         *engine.Runtime
	sysroot    string        // where /proc, /sys, /etc and /dev are read from (--sysroot)
	device     jetson.Device // probed at start
	thermal    *thermalGuard

	queue        chan *job
	updates      chan *settings
	maxFileBytes int64         // watch.max_file_bytes: fixed until a restart, read by intake
	settle       time.Duration // watch.settle_ms: likewise
	latest       *settings     // the newest settings: the worker has them or will (main goroutine)

	ready    atomic.Bool
	stopping atomic.Bool
	answered atomic.Int64
	failed   atomic.Int64
	queued   atomic.Int64 // claimed and not yet finished

	lastStatus string // owned by the main goroutine
}

func cmdRun(args []string, stderr io.Writer) error {
	fl := flag.NewFlagSet("run", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	configPath := fl.String("config", "/etc/hrmd/hrmd.yaml", "the configuration file")
	instance := fl.String("instance", "", "this daemon's name in the spool (work/<instance>/); default $HRMD_INSTANCE, else the host name")
	shutdown := fl.Duration("shutdown-timeout", 30*time.Second, "how long SIGTERM waits for the batch in flight")
	sysroot := fl.String("sysroot", "/", "read the device's /proc, /sys, /etc and /dev below this folder (a container with the host's mounted elsewhere)")
	if err := fl.Parse(args); err != nil {
		return usageError("run: %w", err)
	}
	if fl.NArg() > 0 {
		return usageError("run takes no arguments, only flags; got %q", fl.Arg(0))
	}
	inst, err := instanceName(*instance)
	if err != nil {
		return err
	}
	cfg, err := LoadConfig(*configPath)
	if err != nil {
		return err
	}
	log, level := newLogger(cfg.Log, stderr)
	defer log.Sync()
	d := &daemon{
		configPath: *configPath, cfg: cfg, log: log, level: level, sysroot: *sysroot,
		notify: notifier{log: log}, metrics: newMetrics(),
		maxFileBytes: cfg.Watch.MaxFileBytes, settle: time.Duration(cfg.Watch.SettleMS) * time.Millisecond,
		queue: make(chan *job, 64),
		// Unbuffered: a reload returns once the worker has the new settings.
		updates: make(chan *settings),
	}
	return d.run(inst, *shutdown) // an error is printed by Main, once
}

// instanceName is the name of this daemon's work/ subfolder: a restarted
// daemon takes up its own work, and several daemons can share one spool.
func instanceName(flagValue string) (string, error) {
	name := flagValue
	if name == "" {
		name = os.Getenv("HRMD_INSTANCE")
	}
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("no --instance given and no host name: %w", err)
		}
		name = h
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || strings.HasPrefix(name, ".") {
		return "", usageError("instance name %q cannot be a folder name; use letters, digits, - and _", name)
	}
	return name, nil
}

func (d *daemon) run(instance string, shutdownTimeout time.Duration) error {
	var err error
	if d.spool, err = OpenSpool(d.cfg, instance); err != nil {
		return err
	}
	if n := d.spool.RemoveTemporaries(); n > 0 {
		d.log.Info("removed temporary files an interrupted write left", zap.Int("files", n))
	}
	recovered, err := d.spool.Pending()
	if err != nil {
		return err
	}
	d.device = probeDevice(d.sysroot, d.log)
	d.log.Info("hrmd starting", zap.String("version", Version), zap.String("config", d.configPath),
		zap.String("instance", instance), zap.String("device", d.device.String()),
		zap.String("inbox", d.spool.Inbox), zap.String("outbox", d.spool.Outbox), zap.String("work", d.spool.Work))

	// Signals wait from the start: a SIGTERM while the model loads is acted on
	// once it is loaded.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(signals)

	var srv *http.Server
	if d.cfg.HTTP.Listen != "" {
		if srv, err = d.serveHTTP(d.cfg.HTTP.Listen); err != nil {
			return err
		}
		defer srv.Close()
	}

	closeRuntime := true
	defer func() {
		if d.rt != nil && closeRuntime {
			d.rt.Close() // after the worker has closed its models
		}
	}()
	// Loading may build a TensorRT engine: keep systemd patient meanwhile.
	loaded := make(chan struct{})
	go d.notify.extendWhile(loaded)
	first, err := d.load(d.cfg)
	close(loaded)
	if err != nil {
		return err
	}
	d.latest = first
	d.useModel(first.model)
	d.ready.Store(true)
	d.metrics.ready.Set(1)
	d.notify.ready()
	d.log.Info("ready", zap.String("provider", first.model.mr.provider), zap.String("model", first.model.mr.bundle.Manifest.Name))

	if len(recovered) > 0 {
		d.log.Info("taking up files left in work/ by an earlier run", zap.Int("files", len(recovered)))
	}
	intakeCtx, stopIntake := context.WithCancel(context.Background())
	defer stopIntake()
	d.thermal = newThermalGuard(jetson.NewFS(d.sysroot), d.cfg.Thermal, d.device.Jetson, d.log, d.metrics)
	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	stop := make(chan struct{})
	settled := make(chan settledFile)
	var wg sync.WaitGroup
	w := &watcher{dir: d.spool.Inbox, settle: d.settle, rescan: time.Duration(d.cfg.Watch.RescanS) * time.Second,
		log: d.log, metrics: d.metrics, now: time.Now}
	wk := &worker{d: d, queue: d.queue, updates: d.updates, linger: lingerBatch}
	workerDone := make(chan struct{})
	wg.Add(3)
	go func() { defer wg.Done(); d.thermal.run(intakeCtx) }()
	go func() { defer wg.Done(); w.run(intakeCtx, settled) }()
	go func() { defer wg.Done(); d.intake(intakeCtx, settled, recovered) }()
	go func() { defer close(workerDone); wk.run(stop, runCtx, first) }()
	statusTick := time.NewTicker(time.Second)
	defer statusTick.Stop()

	// A reload loads its model in the background, so that signals are still
	// handled meanwhile; the worker takes the result between batches.
	handed := first       // the settings the worker has, or is applying
	var pending *settings // newer settings the worker has not taken yet
	var reloads chan reloadResult
	reloadAgain := false
	startReload := func() {
		d.notify.reloading()
		reloads = make(chan reloadResult, 1)
		old, latest, ch := d.cfg, d.latest, reloads
		go func() { ch <- d.prepareReload(old, latest) }()
	}
	for {
		var hand chan<- *settings
		if pending != nil {
			hand = d.updates
		}
		select {
		case <-statusTick.C:
			d.updateStatus()
		case <-workerDone:
			return errors.New("the worker stopped unexpectedly")
		case hand <- pending:
			handed, pending = pending, nil
		case r := <-reloads:
			reloads = nil
			if r.err == nil {
				if pending != nil && pending.model != handed.model && pending.model != r.next.model {
					pending.model.model.Close() // superseded before the worker took it
				}
				pending = r.next
			}
			d.finishReload(r)
			if reloadAgain {
				reloadAgain = false
				startReload()
			}
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				if reloads != nil {
					reloadAgain = true // after the one in progress
				} else {
					startReload()
				}
				continue
			}
			d.log.Info("stopping: no new files; finishing the batch in flight", zap.String("signal", sig.String()),
				zap.Duration("timeout", shutdownTimeout))
			d.stopping.Store(true)
			d.metrics.ready.Set(0)
			d.notify.stopping()
			stopIntake()
			close(stop)
			timer := time.AfterFunc(shutdownTimeout, func() {
				d.log.Warn("shutdown timeout: cancelling the batch in flight; its files stay in work/ for the next start")
				cancelRun()
			})
			<-workerDone
			timer.Stop()
			wg.Wait()
			if pending != nil && pending.model != handed.model {
				pending.model.model.Close()
			}
			if reloads != nil {
				// A model is still loading; onnxruntime cannot be shut down
				// under it, and the process is about to end anyway.
				d.log.Warn("a reload was still loading a model; not waiting for it")
				closeRuntime = false
			}
			d.updateStatus()
			d.log.Info("stopped", zap.Int64("answered", d.answered.Load()), zap.Int64("failed", d.failed.Load()),
				zap.Int64("left_in_work", d.queued.Load()))
			return nil
		}
	}
}

// load opens the runtime (first time) and loads and warms the model of cfg.
func (d *daemon) load(cfg Config) (*settings, error) {
	ec := cfg.Engine()
	ec.Device = d.device.CacheKey()
	if d.rt == nil {
		rt, err := engine.Open(ec, d.log)
		if err != nil {
			return nil, err
		}
		d.rt = rt
	} else if err := d.rt.Reconfigure(ec); err != nil {
		return nil, err
	}
	bundle, err := engine.LoadBundle(cfg.Model)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	m, err := d.rt.LoadModel(bundle, engine.ModelOptions{MaxBatch: cfg.Inference.MaxBatch})
	if err != nil {
		return nil, err
	}
	lm := &loadedModel{model: m, mr: newModelRun(m, d.device.String(), false)}
	if err := warmUp(m, cfg.Inference.MaxBatch); err != nil {
		m.Close()
		return nil, err
	}
	if lm.mr.inputInvariant, err = checkInputInvariance(m, cfg.RunOptions(), cfg.Inference.InputInvariant, d.log); err != nil {
		m.Close()
		return nil, err
	}
	took := time.Since(started)
	if c := m.EngineCache(); c.Dir != "" {
		// TensorRT builds its engine during the load and the warm-up: minutes
		// on a Jetson the first time, seconds once it is cached.
		how := "loaded from the cache"
		switch {
		case !c.Found:
			how = "built (first start with this model, library, device and precision)"
		case engine.EngineBuiltSince(c.Dir, started):
			how = "built again (TensorRT did not take the cached one)"
		}
		d.log.Info("tensorrt engine "+how, zap.String("engine_cache", c.Dir), zap.Duration("took", took))
	}
	d.log.Info("model loaded and warmed up", zap.String("model", bundle.Manifest.Name), zap.String("sha256", bundle.SHA256),
		zap.String("provider", m.Provider()), zap.String("precision", m.Precision()), zap.Duration("took", took))
	return d.settingsFor(cfg, lm), nil
}

func (d *daemon) settingsFor(cfg Config, lm *loadedModel) *settings {
	return &settings{model: lm, run: cfg.RunOptions(), demoCheck: cfg.Inference.DemoCheck, maxBatch: cfg.Inference.MaxBatch, png: cfg.Answers.PNG,
		augmentations: cfg.Inference.Augmentations}
}

// warmUp runs a full batch once, so the first file does not pay for
// ONNX Runtime's first-run set-up (or a TensorRT engine build).
func warmUp(m *engine.Model, maxBatch int) error {
	b := m.Bundle()
	side := b.Manifest.Grid
	rows := make([][]int64, maxBatch)
	for i := range rows {
		rows[i] = make([]int64, side*side)
		b.Encoding.Encode(puzzles.Grid{{0, 1}, {2, 3}}, side, rows[i])
	}
	_, err := m.Run(context.Background(), rows, engine.RunOptions{Halting: engine.HaltFixed, MaxCycles: 2})
	return err
}

// checkInputInvariance runs the probe at load: a model whose predictions do
// not depend on its input is refused (inference.input_invariant: refuse) or
// loaded with a warning, and every answer it gives is flagged.
func checkInputInvariance(m *engine.Model, run engine.RunOptions, mode string, log *zap.Logger) (bool, error) {
	invariant, err := engine.ProbeInputInvariance(context.Background(), m, run)
	if err != nil || !invariant {
		return false, err
	}
	name := m.Bundle().Manifest.Name
	what := fmt.Sprintf("model %s (%s) answers the same whatever its input: %d different probe grids got one identical prediction, so it has learnt nothing about its input (the all-zeros checkpoint that scored \"71%%\" was such a model)",
		name, m.Bundle().Dir, engine.ProbeCount)
	if mode == "refuse" {
		return true, &Error{Code: CodeInputInvariant, Message: what + "; inference.input_invariant is refuse: use another model, or set it to warn"}
	}
	log.Warn("the model's predictions do not depend on its input; every answer is flagged model_input_invariant",
		zap.String("model", name), zap.String("detail", what))
	return true, nil
}

// useModel records the model in use for /metrics.
func (d *daemon) useModel(lm *loadedModel) {
	d.metrics.provider.Reset()
	b := lm.mr.bundle
	d.metrics.provider.WithLabelValues(lm.mr.provider, lm.mr.precision, b.Manifest.Name, b.SHA256).Set(1)
}

// reloadResult is what a reload prepared: new settings for the worker, or
// why there are none.
type reloadResult struct {
	cfg      Config
	next     *settings
	reloaded bool // a new model was loaded
	err      error
}

// prepareReload reads hrmd.yaml again (SIGHUP) and loads a new model when the
// model or the engine settings changed. It runs beside the main loop; old and
// latest are the running configuration and the newest settings.
func (d *daemon) prepareReload(old Config, latest *settings) reloadResult {
	cfg, err := LoadConfig(d.configPath)
	if err != nil {
		return reloadResult{err: err}
	}
	for _, k := range []struct {
		key      string
		old, new any
	}{
		{"inbox", old.Inbox, cfg.Inbox}, {"outbox", old.Outbox, cfg.Outbox}, {"spool", old.Spool, cfg.Spool},
		{"http.listen", old.HTTP.Listen, cfg.HTTP.Listen}, {"log.format", old.Log.Format, cfg.Log.Format},
		{"watch", old.Watch, cfg.Watch}, {"onnxruntime.library", old.ONNXRuntime.Library, cfg.ONNXRuntime.Library},
		{"thermal", old.Thermal, cfg.Thermal},
	} {
		if !reflect.DeepEqual(k.old, k.new) {
			d.log.Warn("this setting changes only at a restart; keeping the running value", zap.String("key", k.key))
		}
	}
	cfg.Inbox, cfg.Outbox, cfg.Spool, cfg.HTTP, cfg.Log.Format, cfg.Watch, cfg.ONNXRuntime.Library, cfg.Thermal =
		old.Inbox, old.Outbox, old.Spool, old.HTTP, old.Log.Format, old.Watch, old.ONNXRuntime.Library, old.Thermal

	lm := latest.model
	reloaded := modelChanged(old, cfg, latest)
	if reloaded {
		next, err := d.load(cfg)
		if err != nil {
			restore := old.Engine()
			restore.Device = d.device.CacheKey()
			if rerr := d.rt.Reconfigure(restore); rerr != nil {
				d.log.Error("cannot restore the engine settings", zap.Error(rerr))
			}
			return reloadResult{err: err}
		}
		lm = next.model
	}
	return reloadResult{cfg: cfg, next: d.settingsFor(cfg, lm), reloaded: reloaded}
}

// finishReload applies a prepared reload on the main goroutine. A bad config
// or a model that will not load keeps everything as it was.
func (d *daemon) finishReload(r reloadResult) {
	defer d.notify.ready()
	if r.err != nil {
		d.metrics.reloads.WithLabelValues("failed").Inc()
		code, _ := classify(r.err)
		d.log.Error("reload failed; keeping the running configuration", zap.String("code", code), zap.String("error", message(r.err)))
		return
	}
	d.cfg, d.latest = r.cfg, r.next
	d.level.SetLevel(mustLevel(r.cfg.Log.Level))
	d.metrics.reloads.WithLabelValues("ok").Inc()
	d.log.Info("configuration reloaded", zap.String("model", r.next.model.mr.bundle.Manifest.Name), zap.Bool("model_reloaded", r.reloaded))
}

// modelChanged reports whether cfg needs another model loaded: another
// bundle (or the same folder with other contents), or other engine settings.
func modelChanged(old, cfg Config, latest *settings) bool {
	if old.Model != cfg.Model || !reflect.DeepEqual(old.Engine(), cfg.Engine()) || old.Inference.MaxBatch != cfg.Inference.MaxBatch {
		return true
	}
	// The input probe's verdict depends on how the model runs, and what to
	// do with it on input_invariant: a change means probing again.
	if old.Inference.InputInvariant != cfg.Inference.InputInvariant || old.Inference.Halting != cfg.Inference.Halting ||
		old.Inference.MaxCycles != cfg.Inference.MaxCycles {
		return true
	}
	b, err := engine.LoadBundle(cfg.Model)
	return err != nil || b.SHA256 != latest.model.mr.bundle.SHA256
}

func mustLevel(s string) zapcore.Level {
	l, _ := zapcore.ParseLevel(s) // validated with the config
	return l
}

// intake claims settled files and hands them to the worker, after taking up
// what an earlier run left in work/.
func (d *daemon) intake(ctx context.Context, in <-chan settledFile, recovered []string) {
	for _, job := range recovered {
		if !d.admit(ctx, job, job) {
			return
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-in:
			// Too hot: the file stays in the inbox until it has cooled down.
			if !d.thermal.wait(ctx) {
				return
			}
			d.take(ctx, f)
		}
	}
}

// take claims one settled file, if it is still the file that settled: a
// file that changed since (or a new file under the same name) waits for the
// watcher to see it settle again.
func (d *daemon) take(ctx context.Context, f settledFile) {
	info, err := os.Lstat(filepath.Join(d.spool.Inbox, f.name))
	if err != nil || !f.same(info) {
		return
	}
	job, err := d.spool.Claim(f.name)
	switch {
	case errors.Is(err, errGone):
		return
	case job == "":
		d.log.Error("cannot claim a file; it stays in the inbox and is tried again at the next scan", zap.String("name", f.name), zap.Error(err))
		return
	case err != nil:
		d.log.Warn("claimed, but not durably", zap.String("name", f.name), zap.Error(err))
	}
	// A writer may have replaced the file between the check and the claim:
	// then what is in work/ must settle before it is read.
	if !d.settleInWork(ctx, job, f) {
		return // stopping: it stays in work/ for the next start
	}
	d.admit(ctx, f.name, job)
}

// settleInWork waits until a claimed file is the one that settled, or has
// not changed for the settle time. It returns false if ctx ends first.
func (d *daemon) settleInWork(ctx context.Context, job string, f settledFile) bool {
	path := d.spool.WorkPath(job)
	last, changed := f, time.Now()
	for {
		info, err := os.Lstat(path)
		if err != nil {
			return true // admit reports it
		}
		cur := snapshot(f.name, info)
		if cur == f && last == f {
			return true
		}
		if cur != last {
			last, changed = cur, time.Now()
		} else if time.Since(changed) >= d.settle {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(max(d.settle/4, 10*time.Millisecond)):
		}
	}
}

// admit reads and checks a claimed file and queues it for the worker; a file
// that is not a valid task goes to failed/. It returns false when ctx ended
// first: the file stays in work/ for the next start.
func (d *daemon) admit(ctx context.Context, name, job string) bool {
	path := d.spool.WorkPath(job)
	info, err := os.Lstat(path)
	if err != nil {
		d.log.Error("a claimed file disappeared from work/", zap.String("name", job), zap.Error(err))
		return true
	}
	if !info.Mode().IsRegular() {
		d.fail(job, name, &puzzles.Error{Code: "not_regular_file",
			Message: fmt.Sprintf("%s is a %s, not a regular file; drop the task file itself", name, fileKind(info.Mode()))})
		return true
	}
	file, err := puzzles.ReadFile(path, d.maxFileBytes)
	if err != nil {
		var perr *puzzles.Error
		if !errors.As(err, &perr) {
			err = &puzzles.Error{Code: "unreadable", Message: fmt.Sprintf("cannot read %s: %v", name, unwrapPath(err))}
		} else if perr.Code == puzzles.CodeTooBig {
			perr.Message += " (watch.max_file_bytes)"
		}
		d.fail(job, name, err)
		return true
	}
	d.queued.Add(1)
	d.metrics.queueDepth.Inc()
	select {
	case d.queue <- newJob(name, job, file):
		return true
	case <-ctx.Done():
		d.queued.Add(-1)
		d.metrics.queueDepth.Dec()
		return false
	}
}

func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeSymlink != 0:
		return "symbolic link"
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// finish writes a job's answer and retires its input to done/.
func (d *daemon) finish(j *job) {
	data, files, err := j.answer()
	if err != nil {
		d.fail(j.job, j.name, err)
		return
	}
	var picture []byte
	if j.set.png {
		// A picture is an extra: one that cannot be drawn (too large) is
		// logged, and the answer goes out without it.
		if picture, err = answerPicture(j.file, files); err != nil {
			d.log.Warn("no picture for this answer", zap.String("name", j.job), zap.Error(err))
		}
	}
	var doneName string
	err = retryIO(func() error {
		name, err := d.spool.Answer(j.job, data, picture)
		if name != "" { // moved: only its durability is in doubt, and retrying cannot move it again
			doneName = name
			if err != nil {
				d.log.Warn("answered, but not durably", zap.String("name", j.job), zap.Error(err))
			}
			return nil
		}
		return err
	})
	if err != nil {
		d.log.Error("cannot write the answer; the file stays in work/ and is answered at the next start",
			zap.String("name", j.job), zap.Error(err))
		return
	}
	d.answered.Add(1)
	d.metrics.puzzles.WithLabelValues("answered").Inc()
	tests := 0
	for _, t := range j.file.Tasks {
		tests += len(t.Test)
	}
	latency := time.Duration(0)
	for t := range j.start {
		latency = max(latency, j.end[t].Sub(j.start[t]))
	}
	d.log.Info("answered", zap.String("name", j.name), zap.String("answer", AnswerName(j.job)), zap.String("done", doneName),
		zap.Int("tasks", len(j.file.Tasks)), zap.Int("test_inputs", tests), zap.Ints("cycles", j.testCycles()),
		zap.Float64("latency_ms", float64(latency.Microseconds())/1e3), zap.Float64("waited_ms", float64(time.Since(j.claimed).Microseconds())/1e3),
		zap.String("provider", j.set.model.mr.provider), zap.String("outcome", "answered"))
}

// fail sends a claimed file to failed/ with the reason.
func (d *daemon) fail(job, name string, cause error) {
	code, msg := errCode(cause)
	e := ErrorFile{File: name, Code: code, Message: msg, At: time.Now().UTC()}
	var failedName string
	err := retryIO(func() error {
		name, err := d.spool.Fail(job, e)
		if name != "" {
			failedName = name
			if err != nil {
				d.log.Warn("failed, but the move is not durable", zap.String("name", job), zap.Error(err))
			}
			return nil
		}
		return err
	})
	if err != nil {
		d.log.Error("cannot move a failed file to failed/; it stays in work/ and is tried again at the next start",
			zap.String("name", job), zap.String("code", code), zap.Error(err))
		return
	}
	d.failed.Add(1)
	d.metrics.puzzles.WithLabelValues("failed").Inc()
	d.metrics.failures.WithLabelValues(code).Inc()
	d.log.Warn("failed", zap.String("name", name), zap.String("failed", failedName), zap.String("code", code),
		zap.String("message", msg), zap.String("outcome", "failed"))
}

// dequeue counts jobs the worker is done with, whatever became of them.
func (d *daemon) dequeue(n int) {
	d.queued.Add(-int64(n))
	d.metrics.queueDepth.Sub(float64(n))
}

// retryIO retries a spool write a few times with growing pauses: a full disk
// or a busy network filesystem often clears within seconds.
func retryIO(op func() error) error {
	var err error
	for pause := 100 * time.Millisecond; ; pause *= 4 {
		if err = op(); err == nil || pause > 2*time.Second {
			return err
		}
		time.Sleep(pause)
	}
}

// updateStatus tells systemd the counts (`systemctl status hrmd` shows
// them), when they changed.
func (d *daemon) updateStatus() {
	status := fmt.Sprintf("answered %d, failed %d, in progress %d", d.answered.Load(), d.failed.Load(), d.queued.Load())
	if status != d.lastStatus {
		d.notify.status(status)
		d.lastStatus = status
	}
}

// serveHTTP starts /healthz, /readyz and /metrics on listen.
func (d *daemon) serveHTTP(listen string) (*http.Server, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w; choose another address or \"\" to turn HTTP off", listen, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case d.stopping.Load():
			http.Error(w, "stopping", http.StatusServiceUnavailable)
		case !d.ready.Load():
			http.Error(w, "loading the model", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ready")
		}
	})
	mux.Handle("/metrics", promhttp.HandlerFor(d.metrics.registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server stopped", zap.Error(err))
		}
	}()
	d.log.Info("http listening", zap.String("addr", ln.Addr().String()))
	return srv, nil
}
