package daemon

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/puzzles"
)

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
		if picture, err = answer.Picture(j.file, files); err != nil {
			d.log.Warn("no picture for this answer", zap.String("name", j.job), zap.Error(err))
		}
	}
	var doneName string
	err = retryIO(func() error {
		name, err := d.spool.writeAnswer(j.job, data, picture)
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
	d.log.Info("answered", zap.String("name", j.name), zap.String("answer", AnswerName(j.job)), zap.String("done", doneName),
		zap.Int("tasks", len(j.file.Tasks)), zap.Int("test_inputs", j.testInputs()), zap.Ints("cycles", j.testCycles()),
		zap.Float64("latency_ms", float64(j.latency().Microseconds())/1e3), zap.Float64("waited_ms", float64(time.Since(j.claimed).Microseconds())/1e3),
		zap.String("provider", j.set.model.as.Provider), zap.String("outcome", "answered"))
}

// fail sends a claimed file to failed/ with the reason.
func (d *daemon) fail(job, name string, cause error) {
	code, msg := answer.Code(cause), answer.Message(cause)
	e := ErrorFile{File: name, FileBytes: puzzles.NameBytes(name), Code: code, Message: msg, At: time.Now().UTC()}
	var failedName string
	err := retryIO(func() error {
		name, err := d.spool.writeFailure(job, e)
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
