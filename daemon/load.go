package daemon

import (
	"context"
	"reflect"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/engine/bundle"
)

// load opens the runtime (the first time) and loads, warms up and probes
// the model of cfg.
func (d *daemon) load(ctx context.Context, cfg config.Config) (*settings, error) {
	d.log.Info("loading the model", zap.String("event", "loading"), zap.String("model", cfg.Model))
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
	b, err := bundle.Load(cfg.Model)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	stopFollowing := d.progress.follow()
	m, err := d.rt.LoadModel(b, d.watched(cfg.ModelOptions()))
	stopFollowing()
	if err != nil {
		return nil, err
	}
	degraded := d.checkDegraded(cfg, m)
	if err := warmUp(ctx, m); err != nil {
		m.Close()
		return nil, err
	}
	invariant, err := answer.CheckInputInvariance(ctx, m, cfg.InputProbe(), d.log)
	if err != nil {
		m.Close()
		return nil, err
	}
	took := time.Since(started)
	d.reportEngine(m, took)
	d.log.Info("model loaded and warmed up", zap.String("model", b.Manifest.Name), zap.String("sha256", b.SHA256),
		zap.String("provider", m.Provider()), zap.String("precision", m.Precision()),
		zap.Int("max_batch", m.MaxBatch()), zap.Duration("took", took))
	lm := &loadedModel{model: m, as: answer.NewAssembler(m, d.device.String(), invariant), degraded: degraded}
	return settingsFor(cfg, lm), nil
}

// reportEngine says where a TensorRT engine came from and what its check
// found (or what the CUDA provider's found); an fp16 or bf16 engine that
// failed it is an error line with the figures, the first time.
func (d *daemon) reportEngine(m *engine.Model, took time.Duration) {
	c := m.EngineCache()
	switch {
	case c.RejectedStored():
		// Logged as an error at the start that built it; said once more,
		// as information, at every start after.
		d.log.Info(
			"the "+c.Rejected.Precision+" TensorRT engine failed the bundle's check when it was built (its verdict is kept "+
				"beside it); running the fp32 engine (tensorrt.fp16_check: fallback)",
			zap.String("check", c.Rejected.Summary()),
		)
	case c.Rejected != nil:
		d.log.Error(
			"the "+c.Rejected.Precision+" TensorRT engine failed the bundle's check and is not used; running the fp32 engine "+
				"(tensorrt.fp16_check: fallback)",
			zap.String("check", c.Rejected.Summary()),
		)
	}
	if c.Dir == "" {
		if c.Check != nil { // the CUDA provider, held to the check at every load
			d.log.Info("the check set passed on "+m.Provider(), zap.String("check", c.Check.Summary()))
		}
		return
	}
	// TensorRT builds its engine during the load: minutes on a Jetson the
	// first time, seconds once it is cached.
	how := "loaded from the cache"
	if c.Built {
		how = "built (first start with this model, library, device and build options)"
	}
	fields := []zap.Field{zap.String("engine_cache", c.Dir), zap.Duration("took", took)}
	if c.Built {
		fields = append(fields, zap.Duration("build_took", c.BuildTook))
	}
	switch {
	case c.Check == nil:
		fields = append(fields, zap.String("check", "not checked"))
	default:
		fields = append(fields, zap.String("check", c.Check.Summary()))
	}
	d.log.Info("tensorrt engine "+how, fields...)
}

// loadFirst loads the model a start needs, while still heeding stop: its
// end cancels the load (the warm-up and the input probe stop at once; an
// engine build that cannot be interrupted is left to the ending process
// after the shutdown timeout) and returns nil settings; a Reload is
// remembered (hup) for a reload once serving. Meanwhile systemd is asked
// for more start-up time, up to tensorrt.max_build.
func (d *daemon) loadFirst(stop context.Context) (first *settings, hup bool, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	loaded := make(chan struct{})
	defer close(loaded)
	go d.notify.extendWhile(loaded, time.Duration(d.cfg.TensorRT.MaxBuild))
	status := time.NewTicker(time.Second) // STATUS= says what the load is doing
	defer status.Stop()
	done := make(chan loadResult, 1)
	go func() {
		s, err := d.load(ctx, d.cfg)
		done <- loadResult{s, err}
	}()
	for {
		select {
		case r := <-done:
			if stop.Err() == nil || r.err != nil {
				return r.s, hup, r.err
			}
			done <- r // loaded as stop came: stop all the same
			return nil, false, d.stopLoading(stop, cancel, done)
		case <-status.C:
			d.updateStatus()
		case <-d.reloadAsked:
			hup = true
		case <-stop.Done():
			return nil, false, d.stopLoading(stop, cancel, done)
		}
	}
}

type loadResult struct {
	s   *settings
	err error
}

// stopLoading cancels the first load and waits for it for at most the
// shutdown timeout.
func (d *daemon) stopLoading(stop context.Context, cancel context.CancelFunc, done <-chan loadResult) error {
	d.log.Info("stopping while the model loads", zap.String("event", "stopping_while_loading"),
		zap.String("signal", stopCause(stop)))
	d.notify.stopping()
	cancel()
	select {
	case r := <-done:
		if r.s != nil {
			r.s.model.model.Close()
		}
	case <-time.After(d.opts.ShutdownTimeout):
		d.log.Warn("the model load did not stop within the shutdown timeout (an engine build?); not waiting for it",
			zap.String("event", "load_abandoned"))
		d.loadingAtExit = true
	}
	return nil
}

// warmUp runs a full batch once, so the first file does not pay for
// ONNX Runtime's first-run set-up (or a TensorRT engine build). The batch is
// the model's, which the provider it landed on decided (max_batch auto).
func warmUp(ctx context.Context, m *engine.Model) error {
	b := m.Bundle()
	side := b.Manifest.Grid
	rows := make([][]int64, m.MaxBatch())
	grid := b.Encoding.StepGrid()
	for i := range rows {
		rows[i] = make([]int64, side*side)
		b.Encoding.Encode(grid, side, rows[i])
	}
	_, err := m.Run(ctx, rows, engine.RunOptions{Halting: engine.HaltFixed, MaxCycles: 2})
	return err
}

// useModel records the model in use for /metrics, and whether it makes
// hrmd degraded.
func (d *daemon) useModel(lm *loadedModel) {
	d.batchRoom.Store(int64(lm.model.MaxBatch()))
	d.setDegraded(lm.degraded)
	d.metrics.provider.Reset()
	b := lm.as.Bundle
	d.metrics.provider.WithLabelValues(lm.as.Provider, lm.as.Precision, b.Manifest.Name, b.SHA256).Set(1)
	d.metrics.precisionCheck.Reset()
	c := lm.model.EngineCache()
	for _, check := range []*engine.PrecisionCheck{c.Rejected, c.Check} {
		if check != nil {
			d.metrics.precisionCheck.WithLabelValues(check.Precision, checkResult(check)).Set(1)
		}
	}
}

func checkResult(c *engine.PrecisionCheck) string {
	if c.Passed {
		return "passed"
	}
	return "failed"
}

// reloadResult is what a reload prepared: new settings for the worker, or
// why there are none.
type reloadResult struct {
	cfg      config.Config
	next     *settings
	reloaded bool // a new model was loaded
	err      error
}

// warnOlderKeys logs each key of an older hrmd that cfg's file has, with
// what to write instead: it still loads, but a newcomer copies what it sees.
func (d *daemon) warnOlderKeys(cfg config.Config) {
	for _, note := range cfg.Deprecated() {
		d.log.Warn("hrmd.yaml has an older key", zap.String("note", note))
	}
}

// prepareReload reads hrmd.yaml again (Reload; the defaults when the daemon
// runs with none), the command line's settings over it, and loads a new model
// when the model or the engine settings changed. It runs beside the main loop;
// old and latest are the running configuration and the newest settings.
func (d *daemon) prepareReload(ctx context.Context, old config.Config, latest *settings) reloadResult {
	cfg, err := d.opts.Over.Read(d.opts.ConfigPath, true)
	if err != nil {
		return reloadResult{err: err}
	}
	d.warnOlderKeys(cfg)
	for _, k := range []struct {
		key      string
		old, new any
	}{
		{"inbox", old.Inbox, cfg.Inbox}, {"outbox", old.Outbox, cfg.Outbox}, {"spool", old.Spool, cfg.Spool},
		{"http.listen", old.HTTP.Listen, cfg.HTTP.Listen}, {"log.format", old.Log.Format, cfg.Log.Format},
		{"watch", old.Watch, cfg.Watch}, {"onnxruntime.library", old.ONNXRuntime.Library, cfg.ONNXRuntime.Library},
		{"thermal", old.Thermal, cfg.Thermal}, {"queue", old.Queue, cfg.Queue},
	} {
		if !reflect.DeepEqual(k.old, k.new) {
			d.log.Warn("this setting changes only at a restart; keeping the running value", zap.String("key", k.key))
		}
	}
	cfg.Inbox, cfg.Outbox, cfg.Spool, cfg.HTTP, cfg.Log.Format = old.Inbox, old.Outbox, old.Spool, old.HTTP, old.Log.Format
	cfg.Watch, cfg.ONNXRuntime.Library, cfg.Thermal, cfg.Queue = old.Watch, old.ONNXRuntime.Library, old.Thermal, old.Queue
	if latest == nil { // a fleet gateway: no model
		return reloadResult{cfg: cfg}
	}

	lm := latest.model
	reloaded := modelChanged(old, cfg, latest)
	if reloaded {
		next, err := d.load(ctx, cfg)
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
	return reloadResult{cfg: cfg, next: settingsFor(cfg, lm), reloaded: reloaded}
}

// finishReload applies a prepared reload on the main goroutine. A bad config
// or a model that will not load keeps everything as it was.
func (d *daemon) finishReload(r reloadResult) {
	defer d.notify.ready()
	if r.err != nil {
		d.metrics.reloads.WithLabelValues("failed").Inc()
		d.log.Error("reload failed; keeping the running configuration", zap.String("event", "reload_failed"),
			zap.String("code", answer.Code(r.err)), zap.String("error", answer.Message(r.err)))
		return
	}
	d.cfg, d.latest = r.cfg, r.next
	d.level.SetLevel(mustLevel(r.cfg.Log.Level))
	if d.joined.Load() {
		d.opts.Fleet.Reloaded(r.cfg)
	}
	d.metrics.reloads.WithLabelValues("ok").Inc()
	if r.next == nil {
		d.log.Info("configuration reloaded", zap.String("event", "reloaded"))
		return
	}
	d.log.Info("configuration reloaded", zap.String("event", "reloaded"),
		zap.String("model", r.next.model.as.Bundle.Manifest.Name), zap.Bool("model_reloaded", r.reloaded))
}

// modelChanged reports whether cfg needs another model loaded: another
// bundle (or the same folder with other contents), other engine settings,
// or another batch (inference.max_batch, inference.gpu_batch).
func modelChanged(old, cfg config.Config, latest *settings) bool {
	if old.Model != cfg.Model || !reflect.DeepEqual(old.Engine(), cfg.Engine()) ||
		old.Inference.MaxBatch != cfg.Inference.MaxBatch ||
		old.Inference.GPUBatch != cfg.Inference.GPUBatch {
		return true
	}
	// What to do with the input probe's verdict is decided at the load (the
	// verdict itself is kept a model, whatever the halting).
	if old.Inference.InputInvariant != cfg.Inference.InputInvariant {
		return true
	}
	b, err := bundle.Load(cfg.Model)
	return err != nil || b.SHA256 != latest.model.as.Bundle.SHA256
}

func mustLevel(s string) zapcore.Level {
	l, _ := zapcore.ParseLevel(s) // validated with the config
	return l
}
