package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/daemon/spool"
	"github.com/hrmd/hrmd/internal/errcode"
	"github.com/hrmd/hrmd/puzzles"
)

// CodeQueue is why a fleet member stops or does not start: the cluster
// refused a request (permissions, a subject taken by another stream), or
// the connection was closed for good (as answer.Error).
const CodeQueue = errcode.QueueFailed

// A Source feeds the worker: the spool's intake (files settled in the
// inbox, and those left in work/), a fleet worker's fetch from the queue.
// Feed hands each job in with Host.Enqueue until ctx ends.
type Source interface {
	Feed(ctx context.Context, h *Host)
}

// A Sink is where an outcome leaves the daemon: the spool's writer (the
// outbox and failed/, with the retrier behind it), a fleet worker's
// publisher (back through the queue).
type Sink interface {
	Deliver(o *Outcome)
}

// A ClaimSink takes the files the intake claims in place of the worker: a
// fleet gateway's publisher. Claim returns false when ctx ended first.
type ClaimSink interface {
	Claim(ctx context.Context, j *Job) bool
}

// Job is what a Source hands the worker, and the intake a ClaimSink: one
// task file, by name.
type Job struct {
	Name string // as dropped in the inbox
	Work string // its name in work/ (the name, or with a suffix)
	File *puzzles.File
	// Size is its bytes on disk as a Source hands it in; as a ClaimSink
	// gets it, what it counts against the memory budget.
	Size int64
	Ref  any  // the Source's own (a fleet worker's delivery), given back in its Outcome
	Sink Sink // where its outcome goes
}

// Role is the daemon's part in a fleet (queue.role), which the command
// builds (package daemon/fleet) and hands in as Options.Fleet: the queue
// client and the goroutines of the roles it plays, beside the intake and
// the worker of local mode, which it feeds and drains.
type Role interface {
	// Join connects to the cluster and makes sure of its streams. It
	// returns nil once joined, or when ctx ended first, having then closed
	// what it opened.
	Join(ctx context.Context, h *Host) error
	Source() Source    // a worker's fetch; nil for a gateway only
	Claims() ClaimSink // a gateway's publisher; nil for a worker only
	// Start starts the role's other goroutines in wg; they end with ctx,
	// except a worker's answer publisher, which ends at DrainAnswers or with
	// answers (the shutdown timeout).
	Start(ctx, answers context.Context, wg *sync.WaitGroup)
	// DrainAnswers waits, once the worker has returned, for the answers it left
	// to be sent, for at most timeout, then cancels them.
	DrainAnswers(timeout time.Duration, cancelAnswers context.CancelFunc)
	Down() string          // why it is connected to no server; "" when it is
	Lost() <-chan struct{} // closed when the connection is closed for good
	Reloaded(cfg config.Config)
	Close()
}

// Host is what a Role reaches of the daemon it runs in: its log, metrics
// registry, file limits and spool; the batch of the model in use (the most
// puzzles a fleet worker holds); the spool's writer (Deliver); counting a
// file finished where its outcome leaves the daemon (Count: a fleet
// worker's answers); counting a claim out once handed on (Dequeue); the
// intake's reading a claimed file again (Forget); feeding the worker
// (Enqueue), and waiting for room to (WaitRoom).
type Host struct{ d *daemon }

func (h *Host) Log() *zap.Logger               { return h.d.log }
func (h *Host) Registry() *prometheus.Registry { return h.d.metrics.registry }
func (h *Host) Limits() puzzles.Limits         { return h.d.limits }
func (h *Host) Spool() *spool.Spool            { return h.d.spool }
func (h *Host) BatchRoom() int                 { return int(h.d.batchRoom.Load()) }
func (h *Host) Deliver(o *Outcome)             { h.d.Deliver(o) }
func (h *Host) Count(o *Outcome)               { h.d.count(o) }
func (h *Host) Dequeue(j *Job)                 { h.d.countOut(1, j.Size) }
func (h *Host) Forget(work string)             { h.d.inWork.drop(work) }

// Enqueue hands a Source's job to the worker; false when ctx ended first.
func (h *Host) Enqueue(ctx context.Context, j Job) bool { return h.d.enqueue(ctx, j.job(), nil) }

// WaitRoom waits until the device is not too hot and the files in memory
// are below their budget; false when ctx ended first.
func (h *Host) WaitRoom(ctx context.Context) bool {
	for _, g := range []*gate{&h.d.thermal.open, &h.d.budget.open} {
		if g.isOpen() {
			continue
		}
		select {
		case <-g.opened():
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// job is j on its way to the worker.
func (j Job) job() *job {
	nj := newJob(j.Name, j.Work, j.File, j.Size)
	nj.ref, nj.sink = j.Ref, j.Sink
	return nj
}

// view is what a ClaimSink gets of a claimed file.
func (j *job) view() *Job {
	return &Job{Name: j.name, Work: j.job, File: j.file, Size: j.size, Ref: j.ref, Sink: j.sink}
}

// spoolSource is the spool's intake as a Source.
type spoolSource struct {
	in        *intake
	settled   <-chan settledFile
	recovered []string
}

func (s spoolSource) Feed(ctx context.Context, _ *Host) { s.in.run(ctx, s.settled, s.recovered) }
