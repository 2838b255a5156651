package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/daemon/fleet/queue"
	"github.com/hrmd/hrmd/puzzles"
)

// Feed is a fleet worker's Source: fetchPuzzles.
func (f *Fleet) Feed(ctx context.Context, _ *daemon.Host) { f.fetchPuzzles(ctx) }

// fetchPuzzles takes puzzles from the queue for the worker, at most a
// batch held at once (more would wait here while other workers idle), and
// none while the device is too hot or the files in memory are at their
// budget.
func (f *Fleet) fetchPuzzles(ctx context.Context) {
	var work *queue.Work
	for tries := 1; work == nil; tries++ {
		var err error
		if work, err = f.c.Work(ctx); err != nil {
			f.log.Warn("queue: cannot open the puzzles feed yet", zap.Int("tries", tries), zap.Error(err))
			if !backoffWait(ctx, tries) {
				return
			}
		}
	}
	for fails := 0; ; {
		room := f.room(ctx)
		if room == 0 {
			return
		}
		got, err := work.Fetch(ctx, room, 2*time.Second)
		if err != nil {
			fails++
			f.log.Debug("queue: fetching puzzles failed; trying again", zap.Error(err))
			if !backoffWait(ctx, fails) {
				return
			}
			continue
		}
		fails = 0
		for _, dv := range got {
			if !f.accept(ctx, dv) {
				return
			}
		}
	}
}

// room waits until the worker can hold another puzzle and says how many;
// 0 when ctx ended.
func (f *Fleet) room(ctx context.Context) int {
	for ctx.Err() == nil {
		if !f.h.WaitRoom(ctx) {
			return 0
		}
		f.mu.Lock()
		n := f.h.BatchRoom() - len(f.held)
		f.mu.Unlock()
		if n > 0 {
			return n
		}
		select {
		case <-f.freed:
		case <-ctx.Done():
		}
	}
	return 0
}

// accept hands a puzzle to the worker, or answers it at once with its error
// file: one delivered too often, or not a valid task. It returns false
// when ctx ended first (the puzzle goes to another worker after ack_wait).
func (f *Fleet) accept(ctx context.Context, dv *queue.Delivery) bool {
	f.hold(dv)
	if dv.Attempt > 1 {
		f.metrics.redelivers.Inc()
	}
	if dv.Attempt > f.cfg.MaxAttempts {
		return f.failNow(ctx, dv, &puzzles.Error{Code: codeDeliveryLimit, Message: fmt.Sprintf(
			"delivered %d times without an answer (queue.max_attempts %d): the workers that took it stopped before answering; "+
				"see their logs (out of memory?)",
			dv.Attempt,
			f.cfg.MaxAttempts,
		)})
	}
	file, err := puzzles.Parse(dv.Data, puzzles.TaskName(dv.Job), f.h.Limits())
	if err != nil {
		return f.failNow(ctx, dv, config.NameLimit(err))
	}
	if !file.Bundle && dv.DroppedAs != "" {
		file.Tasks[0].DroppedAs = dv.DroppedAs
	}
	if f.h.Enqueue(ctx, daemon.Job{Name: dv.Name, Work: dv.Job, File: file, Size: int64(len(dv.Data)), Ref: dv, Sink: f}) {
		return true
	}
	f.release(dv)
	return false
}

// Deliver is the fleet worker's Sink: an outcome goes back through the
// queue. Once the publisher has given up (the shutdown timeout), it is
// dropped: its puzzle goes to another worker.
func (f *Fleet) Deliver(o *daemon.Outcome) {
	select {
	case f.outcomes <- o:
	case <-f.sent:
	}
}

// failNow answers a puzzle with its error file without running it. It
// returns false when ctx ended first.
func (f *Fleet) failNow(ctx context.Context, dv *queue.Delivery, cause error) bool {
	select {
	case f.outcomes <- &daemon.Outcome{Work: dv.Job, Name: dv.Name, Failure: daemon.NewErrorFile(dv.Name, cause), Ref: dv}:
		return true
	case <-ctx.Done():
		f.release(dv)
		return false
	}
}

func (f *Fleet) hold(dv *queue.Delivery) {
	f.mu.Lock()
	f.held[dv] = true
	f.metrics.held.Set(float64(len(f.held)))
	f.mu.Unlock()
}

func (f *Fleet) release(dv *queue.Delivery) {
	f.mu.Lock()
	delete(f.held, dv)
	f.metrics.held.Set(float64(len(f.held)))
	f.mu.Unlock()
	select {
	case f.freed <- struct{}{}:
	default:
	}
}

// keepHolding tells the cluster, every ack_wait/3, that the puzzles
// this worker holds are still being worked on, so that a long batch (or a
// queue behind one) is not given to another worker meanwhile.
func (f *Fleet) keepHolding(ctx context.Context) {
	t := time.NewTicker(time.Duration(f.cfg.AckWait) / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.mu.Lock()
		held := make([]*queue.Delivery, 0, len(f.held))
		for dv := range f.held {
			held = append(held, dv)
		}
		f.mu.Unlock()
		for _, dv := range held {
			if err := dv.InProgress(); err != nil {
				f.log.Debug("queue: cannot say a puzzle is in progress", zap.String("queue_id", dv.ID), zap.Error(err))
			}
		}
	}
}

// publishAnswers sends each outcome back through the queue until drain is
// closed (the worker has returned) and the outcomes it left are sent, or
// ctx ends (the shutdown timeout).
func (f *Fleet) publishAnswers(ctx context.Context, drain <-chan struct{}) {
	for {
		select {
		case o := <-f.outcomes:
			f.sendAnswer(ctx, o)
			continue
		case <-ctx.Done():
			return
		default:
			if drain == nil { // drained: nothing is left
				return
			}
		}
		select {
		case o := <-f.outcomes:
			f.sendAnswer(ctx, o)
		case <-drain:
			drain = nil
			if len(f.outcomes) == 0 {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// sendAnswer stores an outcome in the answers stream, then acks its
// puzzle: in this order, a worker that dies between the two leaves a
// puzzle that comes again and an answer the stream recognises as a
// duplicate; in no order is one lost.
func (f *Fleet) sendAnswer(ctx context.Context, o *daemon.Outcome) {
	dv := o.Ref.(*queue.Delivery)
	defer f.release(dv)
	a := queue.Answer{ID: dv.ID, Gateway: dv.Gateway, Job: dv.Job, Name: dv.Name, Worker: f.name,
		Provider: o.Provider, Model: o.Model, Attempt: dv.Attempt}
	dup, err := f.c.PublishAnswer(ctx, f.body(o, &a))
	if errors.Is(err, queue.ErrTooLarge) && o.Failure == nil {
		o.Failure = daemon.NewErrorFile(dv.Name, &puzzles.Error{Code: codeAnswerTooLarge, Message: fmt.Sprintf(
			"the answer (%d bytes) is larger than the queue carries (%v): "+
				"raise max_payload on the NATS servers, or turn answers.trace off", len(o.Answer), err)})
		dup, err = f.c.PublishAnswer(ctx, f.body(o, &a))
	}
	if err != nil {
		f.log.Warn("not answered: the answer could not be stored before the worker stopped; "+
			"the puzzle goes to another worker",
			zap.String("name", dv.Name), zap.String("queue_id", dv.ID), zap.Error(err))
		return
	}
	f.metrics.published.WithLabelValues("answers", result(dup)).Inc()
	if err := dv.Done(ctx); err != nil {
		f.log.Warn("queue: the puzzle's ack was not confirmed; it may come again, and its answer is then a duplicate",
			zap.String("queue_id", dv.ID), zap.Error(err))
	} else {
		f.metrics.acks.Inc()
	}
	fields := append([]zap.Field{zap.String("name", dv.Name), zap.String("gateway", dv.Gateway), zap.String("job", dv.Job),
		zap.String("queue_id", dv.ID), zap.Int("attempt", dv.Attempt), zap.Bool("duplicate", dup)}, o.Fields...)
	// In role both the gateway counts each file as it writes it: counted
	// here too, a file of its own would count twice. The answers sent are
	// hrmd_fleet_published_total{stream="answers"}.
	if !f.cfg.Gateway() {
		f.h.Count(o)
	}
	if o.Failure != nil {
		f.log.Warn("failed", append(fields, zap.String("event", "failed"), zap.String("code", o.Failure.Code),
			zap.String("message", o.Failure.Message), zap.String("outcome", "failed"))...)
		return
	}
	f.log.Info("answered", append(fields, zap.String("event", "answered"), zap.String("outcome", "answered"))...)
}

// body fills a's body: the answer, or the error file.
func (f *Fleet) body(o *daemon.Outcome, a *queue.Answer) queue.Answer {
	a.Failed, a.Body = o.Failure != nil, o.Answer
	if o.Failure != nil {
		a.Body, _ = json.Marshal(o.Failure)
	}
	return *a
}
