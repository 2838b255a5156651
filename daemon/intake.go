package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/puzzles"
)

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
			if !d.thermal.isOpen() {
				d.log.Debug("too hot: the file waits in the inbox", zap.String("name", f.name))
			}
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
	info, err := os.Lstat(filepath.Join(d.spool.inbox, f.name))
	if err != nil || !f.same(info) {
		return
	}
	job, err := d.spool.claim(f.name)
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
	path := d.spool.workPath(job)
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
	path := d.spool.workPath(job)
	info, err := os.Lstat(path)
	if err != nil {
		d.log.Error("a claimed file disappeared from work/", zap.String("name", job), zap.Error(err))
		return true
	}
	if !info.Mode().IsRegular() {
		d.fail(job, name, &puzzles.Error{Code: codeNotRegular,
			Message: fmt.Sprintf("%s is a %s, not a regular file; drop the task file itself", name, fileKind(info.Mode()))})
		return true
	}
	file, err := puzzles.ReadFile(path, d.limits)
	if err != nil {
		var perr *puzzles.Error
		if !errors.As(err, &perr) {
			err = &puzzles.Error{Code: codeUnreadable, Message: fmt.Sprintf("cannot read %s: %v", name, unwrapPath(err))}
		}
		d.fail(job, name, NameLimit(err))
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
