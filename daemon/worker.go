package daemon

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// worker runs the model. Its batcher batches rows across files up to
// max_batch; it lingers briefly to fill a batch, and finishes each file once
// all its rows are done. It is the loop that proves work moves, so it sends
// the systemd watchdog pings.
type worker struct {
	d       *daemon
	jobs    <-chan *job
	updates <-chan *settings
	linger  time.Duration
}

// run works until stop is closed, then finishes the batch in flight and
// returns. runCtx cancels a batch in flight (the shutdown timeout): its
// files stay in work/ for the next start. The worker owns the models it is
// given: it closes each one it stops using, and the last ones when it returns.
func (w *worker) run(stop <-chan struct{}, runCtx context.Context, cur *settings) {
	b := &batcher{cur: cur}
	defer func() {
		for _, lm := range b.models() {
			lm.model.Close()
		}
	}()
	ping := w.d.notify.watchdogInterval()
	var watchdog <-chan time.Time
	if ping > 0 {
		t := time.NewTicker(ping)
		defer t.Stop()
		watchdog = t.C
	}
	var lastPing time.Time
	held := false // too hot, and said so
	for {
		// Half the interval: the ticker's own tick, a hair short of a full
		// interval after the last ping, must not be skipped, or pings would
		// come a whole WatchdogSec apart.
		if ping > 0 && time.Since(lastPing) >= ping/2 {
			w.d.notify.watchdog()
			lastPing = time.Now()
		}
		w.apply(b)
		// A reload waits for the worker: take new settings even when a
		// backlog keeps it from ever waiting below.
		select {
		case <-stop:
			return
		case s := <-w.updates:
			w.offer(b, s)
		default:
		}
		// Too hot: nothing new starts until it has cooled down (the batch
		// in flight has finished; claimed files wait in work/).
		if cooled := w.d.thermal.opened(); !isClosed(cooled) {
			if !held {
				w.d.log.Debug("too hot: no new batch until it cools down; claimed files wait in work/",
					zap.String("event", "batch_held"), zap.Int("files", len(b.pending)+len(w.jobs)))
				held = true
			}
			if !w.wait(b, stop, watchdog, cooled) {
				return
			}
			continue
		}
		held = false
		if b.available() == 0 {
			if !w.wait(b, stop, watchdog, nil) {
				return
			}
			continue
		}
		if !w.fill(b, stop) || !w.step(runCtx, b) {
			return
		}
	}
}

// wait blocks until something changes: a file comes, new settings, a
// watchdog tick, or (cooled non-nil: too hot, and claimed files wait) it
// cools down. It returns false on stop.
func (w *worker) wait(b *batcher, stop <-chan struct{}, watchdog <-chan time.Time, cooled <-chan struct{}) bool {
	jobs := w.jobs
	if cooled != nil {
		jobs = nil
	}
	select {
	case <-stop:
		return false
	case j := <-jobs:
		b.add(j)
	case s := <-w.updates:
		w.offer(b, s)
	case <-watchdog:
	case <-cooled:
	}
	return true
}

// fill lingers a little for more files, so that a burst fills a batch. It
// returns false on stop.
func (w *worker) fill(b *batcher, stop <-chan struct{}) bool {
	w.join(b)
	if b.full() {
		return true
	}
	timer := time.NewTimer(w.linger)
	defer timer.Stop()
	for !b.full() {
		// Files already waiting join first: the linger is for files on
		// their way, and must not cut a batch short on a busy machine.
		select {
		case j := <-w.jobs:
			b.add(j)
			continue
		default:
		}
		select {
		case j := <-w.jobs:
			b.add(j)
		case s := <-w.updates:
			w.offer(b, s)
		case <-timer.C:
			return true
		case <-stop:
			return false
		}
	}
	return true
}

// join adds the files already claimed to the batcher before every batch,
// even when it has rows enough: there they take turns with a large file
// instead of waiting in the queue until it is done. The batcher holds at
// most as many files as the queue, so that the intake still stops claiming
// files (they wait in the inbox) when the worker is behind.
func (w *worker) join(b *batcher) {
	for len(b.pending) < cap(w.jobs) {
		select {
		case j := <-w.jobs:
			b.add(j)
		default:
			return
		}
	}
}

// step runs the next batch and finishes the files it completes. It returns
// false when runCtx ended the run: the caller stops, leaving its files in work/.
func (w *worker) step(runCtx context.Context, b *batcher) bool {
	batch, failed := b.nextBatch()
	for _, f := range failed {
		w.d.failJob(f.job, f.err)
		w.d.dequeue(f.job)
	}
	if len(batch) == 0 {
		return true
	}
	if !w.runBatch(runCtx, b.cur, batch) {
		return false
	}
	done := b.finished()
	for _, j := range done {
		if !j.failed {
			w.d.answerJob(j)
		}
	}
	w.d.dequeue(done...)
	return true
}

// runBatch runs one batch and hands each row its result. It returns false
// when runCtx ended the run.
func (w *worker) runBatch(runCtx context.Context, cur *settings, batch []batchRow) bool {
	started := time.Now()
	begin(batch, started)
	results, err := cur.model.model.RunPuzzles(runCtx, tokens(batch), puzzleRows(batch), cur.run)
	ended := time.Now()
	if err != nil {
		if runCtx.Err() != nil {
			return false
		}
		// The model failed on this batch: its files fail with the reason,
		// rather than being retried forever.
		for _, j := range failBatch(batch) {
			w.d.failJob(j, err)
		}
		return true
	}
	w.d.metrics.inference.Observe(ended.Sub(started).Seconds())
	w.d.metrics.batchSize.Observe(float64(len(batch)))
	for i, br := range batch {
		if br.job.plan(br.i).Own() {
			w.d.metrics.cycles.Observe(float64(results[i].Cycles))
		}
	}
	record(batch, results, ended)
	return true
}

// apply switches to waiting settings when the batcher can.
func (w *worker) apply(b *batcher) {
	switched, unused := b.apply()
	if !switched {
		return
	}
	if unused != nil {
		unused.model.Close()
		w.d.useModel(b.cur.model)
	}
	w.d.log.Info("settings applied", zap.String("event", "settings_applied"),
		zap.String("model", b.cur.model.as.Bundle.Manifest.Name))
}

// offer hands the batcher new settings, closing a model they superseded
// before it was used.
func (w *worker) offer(b *batcher, s *settings) {
	if unused := b.offer(s); unused != nil {
		unused.model.Close()
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
