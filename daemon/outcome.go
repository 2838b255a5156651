package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/spool"
	"github.com/hrmd/hrmd/puzzles"
)

// Outcome is what became of a job, to be written: its answer (and picture)
// for the outbox, or its error file for failed/. A write that fails (a full
// disk, a read-only outbox) keeps the outcome for the retrier: the model
// does not run again, and the input waits in work/ meanwhile.
type Outcome struct {
	Work, Name string // its name in work/, and as dropped
	// answered:
	Answer, Picture []byte
	Fields          []zap.Field // what the answered line says of it
	// failed:
	Failure *ErrorFile
	// Ref is its job's: a fleet worker's puzzle from the queue, whose
	// outcome goes back through the queue, not to the spool.
	Ref      any
	Provider string
	Model    string // the sha256 of the model that ran it, which a worker's answer names
	// Written, if set, hears that the spool's writer wrote it: a fleet
	// gateway acks the answer message it came in then, and not before, so
	// that an answer whose write a crash cut short comes again.
	Written func()

	ino uint64 // the input's inode in work/ when read; 0: not known
	// result is the spool's record of the steps done: a write tried again
	// does only what is left, and never writes the answer twice.
	result  *spool.Result
	tries   int       // failed writes so far
	next    time.Time // when the retrier tries again
	lastErr error
}

// write makes the outcome durable and retires the input; it returns the
// input's new name in done/ or failed/, "" when it did not move.
func (o *Outcome) write(s *spool.Spool) (string, error) {
	if o.result == nil {
		o.result = &spool.Result{Job: o.Work, Ino: o.ino, Answer: o.Answer, Picture: o.Picture, Record: o.Failure}
	}
	return s.Write(o.result)
}

// answerJob writes a job's answer and retires its input to done/.
func (d *daemon) answerJob(j *job) {
	data, files, err := j.answer()
	if err != nil {
		d.failJob(j, err)
		return
	}
	var picture []byte
	if j.set.png && j.ref == nil { // a fleet's gateway draws its own
		// A picture is an extra: one that cannot be drawn (too large) is
		// logged, and the answer goes out without it.
		if picture, err = answer.Picture(j.file, files); err != nil {
			d.log.Warn("no picture for this answer", zap.String("name", j.job), zap.Error(err))
		}
	}
	j.sink.Deliver(&Outcome{Work: j.job, Name: j.name, ino: j.ino, Answer: data, Picture: picture, Ref: j.ref,
		Provider: j.set.model.as.Provider, Model: j.set.model.as.Bundle.SHA256, Fields: []zap.Field{
			zap.Int("tasks", len(j.file.Tasks)), zap.Int("test_inputs", j.testInputs()), zap.Ints("cycles", j.testCycles()),
			zap.Float64(
				"latency_ms",
				float64(j.latency().Microseconds())/1e3,
			), zap.Float64("waited_ms", float64(time.Since(j.claimed).Microseconds())/1e3),
			zap.String("provider", j.set.model.as.Provider),
		}})
}

// fail sends a claimed file to failed/ with the reason.
func (d *daemon) fail(job, name string, cause error) {
	d.Deliver(&Outcome{Work: job, Name: name, Failure: NewErrorFile(name, cause)})
}

// failJob fails a job the worker took: a claimed file, or a puzzle from the queue.
func (d *daemon) failJob(j *job, cause error) {
	j.sink.Deliver(&Outcome{Work: j.job, Name: j.name, ino: j.ino, Failure: NewErrorFile(j.name, cause), Ref: j.ref})
}

// NewErrorFile is the error file of name that failed with cause.
func NewErrorFile(name string, cause error) *ErrorFile {
	return &ErrorFile{File: name, FileBytes: puzzles.NameBytes(name), Code: answer.Code(cause),
		Message: answer.Message(cause), At: time.Now().UTC()}
}

// Deliver is the spool's writer, the Sink of claimed files: it writes an
// outcome once; one that cannot be written goes to the retrier.
func (d *daemon) Deliver(o *Outcome) {
	if !d.tryWrite(o) {
		d.stuck.add(o)
	}
}

// tryWrite writes an outcome and reports whether it is done with: written,
// or dropped because its input left work/.
func (d *daemon) tryWrite(o *Outcome) bool {
	moved, err := o.write(d.spool)
	if errors.Is(err, spool.ErrInputGone) {
		d.dropped(o, err)
		return true
	}
	if moved == "" {
		o.lastErr = err
		return false
	}
	if err != nil { // moved: only its durability is in doubt, and retrying cannot move it again
		d.log.Warn("written, but the move may not survive a power cut", zap.String("name", o.Work), zap.Error(err))
	}
	d.written(o, moved)
	return true
}

// written counts and logs an outcome once its input has left work/.
func (d *daemon) written(o *Outcome, moved string) {
	d.inWork.drop(o.Work)
	if o.Written != nil {
		o.Written()
	}
	var fields []zap.Field
	if o.tries > 0 {
		fields = append(fields, zap.Int("write_tries", o.tries+1))
	}
	d.count(o)
	if o.Failure != nil {
		d.log.Warn("failed", append(append(fields, zap.String("event", "failed"), zap.String("name", o.Name),
			zap.String("failed", moved), zap.String("code", o.Failure.Code),
			zap.String("message", o.Failure.Message)), append(o.Fields, zap.String("outcome", "failed"))...)...)
		return
	}
	fields = append(append(fields, zap.String("name", o.Name), zap.String("answer", o.result.Answered()),
		zap.String("done", moved)), o.Fields...)
	d.log.Info("answered", append(fields, zap.String("event", "answered"), zap.String("outcome", "answered"))...)
}

// count counts a finished file, answered or failed: hrmd_puzzles_total,
// hrmd_puzzle_failures_total and STATUS='s counts. A file is counted once,
// where its outcome leaves this daemon: written to the spool, or sent back
// through the queue.
func (d *daemon) count(o *Outcome) {
	if o.Failure != nil {
		d.failed.Add(1)
		d.metrics.puzzles.WithLabelValues("failed").Inc()
		d.metrics.failures.WithLabelValues(o.Failure.Code).Inc()
		return
	}
	d.answered.Add(1)
	d.metrics.puzzles.WithLabelValues("answered").Inc()
}

// enqueue counts a job in (hrmd_queue_depth, the memory budget) and hands
// it to claims (a fleet gateway's publisher), or nil: the worker's queue. It
// returns false, the job counted out again, when ctx ended first.
func (d *daemon) enqueue(ctx context.Context, j *job, claims ClaimSink) bool {
	d.queued.Add(1)
	d.metrics.queueDepth.Inc()
	d.budget.reserve(j.size)
	if claims != nil {
		if claims.Claim(ctx, j.view()) {
			return true
		}
	} else {
		select {
		case d.jobs <- j:
			return true
		case <-ctx.Done():
		}
	}
	d.dequeue(j)
	return false
}

// dropped forgets an outcome whose input left work/ before it was retired
// (an admin removed it, or work/ itself): nothing is left to retire, and
// trying again would only write its answer again.
func (d *daemon) dropped(o *Outcome, cause error) {
	d.inWork.drop(o.Work)
	d.log.Warn("the input left work/ before it was retired; its outcome is dropped", zap.String("name", o.Name),
		zap.String("job", o.Work), zap.String("answer", o.result.Answered()), zap.Int("write_tries", o.tries+1),
		zap.Error(cause))
}

// dequeue counts jobs the worker is done with, whatever became of them.
func (d *daemon) dequeue(jobs ...*job) {
	var size int64
	for _, j := range jobs {
		size += j.size
	}
	d.countOut(len(jobs), size)
}

// countOut counts n jobs of size in all out.
func (d *daemon) countOut(n int, size int64) {
	d.queued.Add(-int64(n))
	d.metrics.queueDepth.Sub(float64(n))
	d.budget.release(size)
}

// updateStatus tells systemd (`systemctl status hrmd` shows it), when it
// changed, what the first load is doing, or the counts, after why hrmd is
// degraded and what a reload is doing.
func (d *daemon) updateStatus() {
	status := d.loading()
	if d.ready.Load() {
		counts := fmt.Sprintf("answered %d, failed %d, in progress %d", d.answered.Load(), d.failed.Load(), d.queued.Load())
		reloading := ""
		if stage := d.progress.describe(); stage != "" {
			reloading = "reloading: " + stage
		}
		status = statusOf(d.conditions(), reloading, counts)
	}
	if status != d.lastStatus {
		d.notify.status(status)
		d.lastStatus = status
	}
}
