package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/daemon/device"
	"github.com/hrmd/hrmd/daemon/spool"
	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/jetson"
	"github.com/hrmd/hrmd/puzzles"
)

// lingerBatch is how long the worker waits for more files to fill a batch.
const lingerBatch = 5 * time.Millisecond

// Options are what `hrmd run` starts with.
type Options struct {
	ConfigPath      string        // read again at each Reload; "" for none (every default)
	Config          config.Config // as loaded from ConfigPath, with Over applied
	Over            config.Over   // the command line's settings over ConfigPath's, at each Reload too
	Instance        string        // this daemon's folder in the spool: work/<instance>/
	ShutdownTimeout time.Duration
	AdoptOrphans    bool      // take up the files of work/ folders no running daemon holds
	Sysroot         string    // where /proc, /sys, /etc and /dev are read from
	Version         string    // hrmd's, for the start log
	Log             io.Writer // where the log goes (stderr)
	// Fleet is the part the daemon plays in a fleet, which queue.role
	// names (package daemon/fleet builds it); nil when it runs alone.
	Fleet Role
}

// daemon is one running `hrmd run`.
type daemon struct {
	opts    Options
	cfg     config.Config // as loaded, or last reloaded
	log     *zap.Logger
	level   zap.AtomicLevel
	notify  notifier
	metrics *metrics
	spool   *spool.Spool
	rt      *engine.Runtime
	device  jetson.Device // probed at start
	thermal *thermalGuard
	stuck   *stuckOutcomes // outcomes that could not be written yet
	budget  *memoryBudget  // task files read and not yet answered
	inWork  jobSet         // jobs admitted and not yet out of work/
	inboxOK *inboxHealth   // the inbox path is the inbox
	// progress follows the model load in progress (a TensorRT build takes
	// minutes); degraded is why the model in use runs on the CPU of a
	// Jetson configured for its GPU, nil when it does not.
	progress *loadProgress
	degraded atomic.Pointer[device.Degradation]

	jobs   chan *job // the files for the worker
	claims ClaimSink // where the intake hands the files it claims: nil, the worker's queue; a fleet gateway's
	// batchRoom is the batch of the model in use: the most puzzles a
	// fleet worker holds at once.
	batchRoom atomic.Int64
	joined    atomic.Bool // opts.Fleet has joined its fleet
	updates   chan *settings
	limits    puzzles.Limits // watch.max_file_bytes and the other limits: fixed until a restart, read by intake
	settle    time.Duration  // watch.settle: likewise
	latest    *settings      // the newest settings: the worker has them or will (main goroutine)
	// loadingAtExit: a reload was still loading a model when the daemon
	// stopped, so the runtime stays open under it.
	loadingAtExit bool
	// reloadAsked holds a Reload not yet acted on; more while one waits
	// are one.
	reloadAsked chan struct{}

	ready    atomic.Bool
	stopping atomic.Bool
	answered atomic.Int64
	failed   atomic.Int64
	queued   atomic.Int64 // claimed and not yet finished

	lastStatus string // owned by the main goroutine
}

// Daemon is one `hrmd run` in this process: Run serves until its context
// ends, Reload reads the config again. Signals are the command's to map
// onto them (SIGTERM and SIGINT cancel, SIGHUP reloads), so that a test or
// another program runs the daemon without any.
type Daemon struct{ d *daemon }

// New makes a daemon of opts; nothing starts until Run.
func New(opts Options) (*Daemon, error) {
	if err := spool.CheckInstance(opts.Instance); err != nil {
		return nil, err
	}
	if (opts.Config.Queue.Role == "") != (opts.Fleet == nil) {
		return nil, fmt.Errorf("queue.role %q needs Options.Fleet, and Options.Fleet a queue.role",
			opts.Config.Queue.Role)
	}
	log, level := newLogger(opts.Config.Log, opts.Log)
	d := &daemon{
		opts: opts, cfg: opts.Config, log: log, level: level,
		notify: notifier{log: log}, metrics: newMetrics(),
		limits: opts.Config.Limits(), settle: time.Duration(opts.Config.Watch.Settle),
		jobs: make(chan *job, 64),
		// Unbuffered: the supervisor knows when the worker has taken new
		// settings, and closes none it still holds.
		updates:     make(chan *settings),
		progress:    newLoadProgress(log, time.Now),
		reloadAsked: make(chan struct{}, 1),
	}
	d.inboxOK = newInboxHealth(d.metrics.inboxLost)
	d.stuck = newStuckOutcomes(d)
	d.budget = newMemoryBudget(filesInMemory*d.limits.Bytes, log, d.metrics)
	return &Daemon{d: d}, nil
}

// Run runs the daemon until ctx ends, which finishes the batch in flight
// (for at most ShutdownTimeout) and returns nil; ctx ending while the model
// loads stops the load. What keeps it from starting is returned with a
// stable code (answer.Code). The log names context.Cause(ctx) as the
// signal that stopped it. Run is called once.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.d.log.Sync()
	return d.d.run(ctx)
}

// Reload reads ConfigPath again and hands the new settings to the worker
// between batches (loading a new model first when they need one). A Reload
// during a reload makes one more after it; one while the first model loads
// comes once serving. It does not wait.
func (d *Daemon) Reload() {
	select {
	case d.d.reloadAsked <- struct{}{}:
	default: // one is waiting already
	}
}

// Run makes a daemon of opts and runs it until ctx ends (New, then Run).
func Run(ctx context.Context, opts Options) error {
	d, err := New(opts)
	if err != nil {
		return err
	}
	return d.Run(ctx)
}

// stopCause is what the log says stopped the daemon: the cause ctx was
// cancelled with (the command's: the signal's name).
func stopCause(ctx context.Context) string {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c.Error()
	}
	return "cancelled"
}

// run starts the daemon: spool, device, HTTP, the fleet's queue, the
// model; then serves. A fleet worker has no spool, a fleet gateway no model.
func (d *daemon) run(ctx context.Context) error {
	q := d.cfg.Queue
	var recovered []string
	if q.Role == "" || q.Gateway() {
		var err error
		if recovered, err = d.openSpool(); err != nil {
			return err
		}
		defer d.spool.Close()
	}
	d.device = device.Probe(d.opts.Sysroot, d.log)
	fields := []zap.Field{zap.String("version", d.opts.Version), zap.String("config", d.opts.ConfigPath),
		zap.String("instance", d.opts.Instance), zap.String("device", d.device.String())}
	if d.spool != nil {
		fields = append(
			fields,
			zap.String("inbox", d.spool.Inbox),
			zap.String("outbox", d.spool.Outbox),
			zap.String("work", d.spool.Work()),
		)
	}
	d.log.Info("hrmd starting", append(fields, zap.String("event", "starting"))...)
	d.warnOlderKeys(d.cfg)

	if d.cfg.HTTP.Listen != "" {
		srv, err := d.serveHTTP(d.cfg.HTTP.Listen)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	defer func() {
		if !d.loadingAtExit && d.rt != nil { // in this order: an abandoned load may still be setting d.rt
			d.rt.Close() // after the worker has closed its models
		}
	}()
	first, hup, err := d.start(ctx)
	if err != nil {
		// systemctl status shows this beside the exit: why it did not start.
		d.notify.status("not started: " + answer.Message(err))
	}
	if d.joined.Load() {
		defer d.opts.Fleet.Close()
	}
	if err != nil || first == nil && (!d.joined.Load() || q.Worker()) { // nil, nil: stopped while starting
		return err
	}
	// Before ready: /readyz reads the conditions, too hot among them, once ready.
	d.thermal = newThermalGuard(jetson.NewFS(d.opts.Sysroot), d.cfg.Thermal, d.device.Jetson, d.log, d.metrics)
	d.ready.Store(true)
	d.metrics.ready.Set(1)
	d.notify.ready()
	d.updateStatus()
	if first != nil {
		d.log.Info("ready", zap.String("event", "ready"),
			zap.String("provider", first.model.as.Provider), zap.String("model", first.model.as.Bundle.Manifest.Name))
	} else {
		d.log.Info("ready", zap.String("event", "ready"), zap.String("role", q.Role))
	}
	if len(recovered) > 0 {
		d.log.Info("taking up files left in work/ by an earlier run", zap.Int("files", len(recovered)))
	}
	return d.serve(ctx, first, recovered, hup)
}

// start joins the fleet (queue.role) and loads the model (unless a
// gateway only); nil settings and no error: ctx ended, or a gateway has
// no model. hup: a Reload came meanwhile.
func (d *daemon) start(ctx context.Context) (*settings, bool, error) {
	q := d.cfg.Queue
	hup := false
	if d.opts.Fleet != nil {
		joined, fhup, err := d.join(ctx)
		if err != nil || !joined {
			return nil, false, err
		}
		hup = fhup
		d.joined.Store(true)
		d.claims = d.opts.Fleet.Claims()
		if !q.Worker() {
			return nil, hup, nil
		}
	}
	first, lhup, err := d.loadFirst(ctx)
	if err != nil || first == nil {
		return nil, false, err
	}
	d.latest = first
	d.useModel(first.model)
	return first, hup || lhup, nil
}

// join joins the fleet while still heeding stop: its end stops the wait
// (false, nil); hup: a Reload came meanwhile.
func (d *daemon) join(stop context.Context) (joined, hup bool, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.opts.Fleet.Join(ctx, &Host{d}) }()
	stopped := stop.Done() // nil once heeded
	for {
		select {
		case err := <-done:
			if ctx.Err() != nil { // stopped
				return false, false, nil
			}
			return err == nil, hup, err
		case <-d.reloadAsked:
			hup = true
		case <-stopped:
			d.log.Info("stopping while waiting for the queue", zap.String("signal", stopCause(stop)))
			stopped = nil
			cancel()
		}
	}
}

// serve starts the goroutines that move files (thermal guard, watcher,
// intake, worker, and a fleet's) and supervises them until ctx ends.
func (d *daemon) serve(ctx context.Context, first *settings, recovered []string, hup bool) error {
	intakeCtx, stopIntake := context.WithCancel(context.Background())
	defer stopIntake()
	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	s := &supervisor{d: d, stop: ctx, handed: first, stopIntake: stopIntake,
		stopWorker: make(chan struct{}), cancelRun: cancelRun}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); d.thermal.run(intakeCtx) }()
	var sources []Source
	if d.spool != nil {
		settled := make(chan settledFile)
		w := newWatcher(d.spool.InboxPath(), d.settle, time.Duration(d.cfg.Watch.Rescan), d.log, d.metrics)
		w.spool, w.health = d.spool, d.inboxOK
		s.wg.Add(2)
		go func() { defer s.wg.Done(); w.run(intakeCtx, settled) }()
		go func() { defer s.wg.Done(); d.stuck.run(intakeCtx) }()
		sources = append(sources, spoolSource{in: newIntake(d), settled: settled, recovered: recovered})
	}
	if d.joined.Load() {
		answersCtx, cancelAnswers := context.WithCancel(context.Background())
		defer cancelAnswers()
		s.cancelAnswers = cancelAnswers
		d.opts.Fleet.Start(intakeCtx, answersCtx, &s.wg)
		if src := d.opts.Fleet.Source(); src != nil {
			sources = append(sources, src)
		}
	}
	for _, src := range sources {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); src.Feed(intakeCtx, &Host{d}) }()
	}
	if first != nil {
		s.workerDone = make(chan struct{})
		wk := &worker{d: d, jobs: d.jobs, updates: d.updates, linger: lingerBatch}
		go func() { defer close(s.workerDone); wk.run(s.stopWorker, runCtx, first) }()
	}
	if hup { // a Reload came while the first model loaded
		s.startReload()
	}
	return s.loop()
}

// supervisor is the daemon's main goroutine while it serves. It hands new
// settings to the worker between batches, runs each reload beside the work
// (so that a stop or another reload is still heard while a model loads), and
// once stop ends stops the intake, lets the worker finish its batch, and
// returns. Each method is one step of that state machine.
type supervisor struct {
	d       *daemon
	stop    context.Context // Run's: its end stops the daemon
	handed  *settings       // the settings the worker has, or is applying
	pending *settings       // newer settings the worker has not taken yet
	// reloads delivers the reload in progress; nil when none is.
	reloads      chan reloadResult
	cancelReload context.CancelFunc // stops the reload in progress
	reloadAgain  bool               // a Reload came during a reload: another one after it

	stopIntake context.CancelFunc
	stopWorker chan struct{}      // closed: finish the batch in flight, then return
	workerDone chan struct{}      // closed when the worker has returned; nil when there is none (a fleet gateway)
	cancelRun  context.CancelFunc // cancels the batch in flight
	// cancelAnswers stops a fleet worker's answer publisher (the shutdown timeout).
	cancelAnswers context.CancelFunc
	wg            sync.WaitGroup // thermal guard, watcher, intake, a fleet's goroutines
}

func (s *supervisor) loop() error {
	status := time.NewTicker(time.Second)
	defer status.Stop()
	var lost <-chan struct{} // the fleet's connection given up: nil (never) when alone
	if s.d.joined.Load() {
		lost = s.d.opts.Fleet.Lost()
	}
	for {
		var hand chan<- *settings
		if s.pending != nil {
			hand = s.d.updates
		}
		select {
		case <-status.C:
			s.d.updateStatus()
		case <-s.workerDone:
			s.d.log.Error("the worker stopped unexpectedly; stopping")
			s.stopIntake()
			s.wind()
			return errors.New("the worker stopped unexpectedly")
		case hand <- s.pending:
			s.handed, s.pending = s.pending, nil
		case r := <-s.reloads:
			s.reloaded(r)
		case <-lost:
			// Nothing in this process will connect again: stop as on
			// SIGTERM, then exit non-zero for the service manager to
			// start hrmd afresh (hrmd.service: Restart=on-failure).
			why := s.d.opts.Fleet.Down()
			s.d.log.Error("queue: the connection to the cluster was closed for good; stopping so that hrmd is started again",
				zap.String("connection", why))
			if err := s.shutdown("terminated"); err != nil {
				return err
			}
			return &answer.Error{Code: CodeQueue, Message: "queue: the connection was closed for good: " + why}
		case <-s.stop.Done():
			return s.shutdown(stopCause(s.stop))
		case <-s.d.reloadAsked:
			if s.reloads != nil {
				s.reloadAgain = true // after the one in progress
			} else {
				s.startReload()
			}
		}
	}
}

// startReload reads the config again and loads what it needs in the background.
func (s *supervisor) startReload() {
	s.d.notify.reloading()
	s.reloads = make(chan reloadResult, 1)
	var ctx context.Context
	ctx, s.cancelReload = context.WithCancel(context.Background())
	old, latest, ch := s.d.cfg, s.d.latest, s.reloads
	go func() { ch <- s.d.prepareReload(ctx, old, latest) }()
}

// reloaded applies a finished reload: its settings wait for the worker.
func (s *supervisor) reloaded(r reloadResult) {
	s.applyReload(r)
	s.d.finishReload(r)
	if s.reloadAgain {
		s.reloadAgain = false
		s.startReload()
	}
}

// applyReload makes a finished reload's settings the ones the worker gets next,
// closing the model of any it supersedes before the worker took them.
func (s *supervisor) applyReload(r reloadResult) {
	s.reloads = nil
	s.cancelReload()
	if r.err != nil {
		return
	}
	if s.pending != nil && s.pending.model != s.handed.model && s.pending.model != r.next.model {
		s.pending.model.model.Close()
	}
	s.pending = r.next
}

// wind waits, once the worker has returned, for a fleet worker's answers
// to be sent, for the goroutines that move files and for a reload in progress (cancelled: its warm-up and input
// probe stop at once), and closes the models nobody will use. A reload
// still building an engine after the shutdown timeout is left to the
// ending process: onnxruntime cannot be shut down under it.
func (s *supervisor) wind() {
	if s.d.joined.Load() {
		s.d.opts.Fleet.DrainAnswers(s.d.opts.ShutdownTimeout, s.cancelAnswers)
	}
	s.wg.Wait()
	if s.reloads != nil {
		s.cancelReload()
		select {
		case r := <-s.reloads:
			s.applyReload(r)
		case <-time.After(s.d.opts.ShutdownTimeout):
			s.d.log.Warn("a reload was still loading a model; not waiting for it",
				zap.String("event", "reload_abandoned"))
			s.d.loadingAtExit = true
		}
	}
	if s.pending != nil && s.pending.model != s.handed.model {
		s.pending.model.model.Close()
	}
}

// shutdown stops taking files, lets the worker finish the batch in flight
// (cancelled after the shutdown timeout: its files stay in work/ for the
// next start), and waits for every goroutine.
func (s *supervisor) shutdown(cause string) error {
	d := s.d
	timeout := d.opts.ShutdownTimeout
	d.log.Info("stopping: no new files; finishing the batch in flight", zap.String("signal", cause),
		zap.Duration("timeout", timeout))
	d.stopping.Store(true)
	d.metrics.ready.Set(0)
	d.notify.stopping()
	s.stopIntake()
	close(s.stopWorker)
	timer := time.AfterFunc(timeout, func() {
		d.log.Warn("shutdown timeout: cancelling the batch in flight; its files stay in work/ for the next start")
		s.cancelRun()
		if s.cancelAnswers != nil { // a fleet worker's answers: their puzzles go to other workers
			s.cancelAnswers()
		}
	})
	if s.workerDone != nil {
		<-s.workerDone
	}
	timer.Stop()
	s.wind()
	d.updateStatus()
	d.log.Info("stopped", zap.String("event", "stopped"),
		zap.Int64("answered", d.answered.Load()), zap.Int64("failed", d.failed.Load()),
		zap.Int64("left_in_work", d.leftInWork()))
	return nil
}

// leftInWork counts the files the next start takes up: those in this
// daemon's work/ (a gateway's wait there for their answers, not in its
// queue), or a fleet worker's puzzles not yet answered.
func (d *daemon) leftInWork() int64 {
	if d.spool == nil {
		return d.queued.Load()
	}
	jobs, err := d.spool.Pending()
	if err != nil {
		return d.queued.Load()
	}
	return int64(len(jobs))
}
