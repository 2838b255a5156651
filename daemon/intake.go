package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/daemon/spool"
	"github.com/hrmd/hrmd/internal/errcode"
	"github.com/hrmd/hrmd/puzzles"
)

// workRescan is how often intake looks through work/ for files nobody
// holds (one whose read failed for a passing reason, say).
const workRescan = 30 * time.Second

// intake claims settled files and hands them to the worker, after taking up
// what an earlier run left in work/. It owns its fields; the daemon's
// conditions with a gate (too hot, outcomes not written, inbox unusable,
// memory budget) hold it back.
type intake struct {
	d *daemon
	// claimFailed backs off a file whose claim failed, so that the watcher
	// handing it over again and again logs it once per step.
	claimFailed map[string]*retryState
	// rescanAt is when work/ is looked through next; sooner after a read
	// failed for a passing reason (the laterTries-th so far), with a backoff.
	rescanAt   time.Time
	laterTries int
}

type retryState struct {
	tries int
	next  time.Time
}

func newIntake(d *daemon) *intake {
	return &intake{d: d, claimFailed: map[string]*retryState{}, rescanAt: time.Now().Add(workRescan)}
}

func (in *intake) run(ctx context.Context, files <-chan settledFile, recovered []string) {
	for _, job := range recovered {
		if !in.admit(ctx, job, job) {
			return
		}
	}
	for {
		rescan := time.NewTimer(max(time.Until(in.rescanAt), 0))
		select {
		case <-ctx.Done():
			rescan.Stop()
			return
		case <-rescan.C:
			if !in.rescanWork(ctx) {
				return
			}
		case f := <-files:
			rescan.Stop()
			if !in.wait(ctx, f) {
				return
			}
			in.claim(ctx, f)
		}
	}
}

// wait holds a settled file in the inbox while a condition's gate is shut:
// too hot, the inbox path not the inbox, outcomes waiting to be written,
// the memory budget reached.
func (in *intake) wait(ctx context.Context, f settledFile) bool {
	d := in.d
	for _, c := range d.conditions() {
		if c.gate == nil || c.gate.isOpen() {
			continue
		}
		d.log.Debug(c.waits+": the file waits in the inbox", zap.String("event", "file_held"), zap.String("name", f.name))
		select {
		case <-c.gate.opened():
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// claim claims one settled file, if it is still the file that settled: a
// file that changed since (or a new file under the same name) waits for the
// watcher to see it settle again.
func (in *intake) claim(ctx context.Context, f settledFile) {
	d := in.d
	st, err := d.spool.StatInbox(f.name)
	if err != nil || (settledFile{name: f.name, size: st.Size, mod: st.Mtim.Nano(), mode: st.Mode, inode: st.Ino}) != f {
		return
	}
	if r := in.claimFailed[f.name]; r != nil && time.Now().Before(r.next) {
		return // backing off; it was logged
	}
	c, err := d.spool.Claim(f.name)
	switch {
	case errors.Is(err, spool.ErrGone):
		delete(in.claimFailed, f.name)
		return
	case c.Job == "" && c.Failed == "":
		in.claimFault(f.name, err)
		return
	case err != nil:
		d.log.Warn("claimed, but not durably", zap.String("name", f.name), zap.Error(err))
	}
	delete(in.claimFailed, f.name)
	if d.inboxOK.claimed(nil) {
		d.log.Info("files can be claimed from the inbox again")
	}
	if c.Failed != "" { // its name is too long: it went to failed/ at once
		d.written(&Outcome{Work: c.Failed, Name: f.name, Failure: c.Record}, c.Failed)
		return
	}
	// A writer may have replaced the file between the check and the claim:
	// then what is in work/ must settle before it is read.
	if !in.settleInWork(ctx, c.Job, f) {
		return // stopping: it stays in work/ for the next start
	}
	in.admit(ctx, f.name, c.Job)
}

// claimFault backs off a file whose claim failed, and makes the inbox
// unusable (in /readyz and hrmd_inbox_unusable) until a claim works again:
// a file that cannot be claimed waits in the inbox, and whoever watches
// the daemon must know.
func (in *intake) claimFault(name string, err error) {
	d := in.d
	r := in.claimFailed[name]
	if r == nil {
		r = &retryState{}
		in.claimFailed[name] = r
	}
	r.tries++
	wait := Backoff(r.tries, time.Second, time.Minute)
	r.next = time.Now().Add(wait)
	d.inboxOK.claimed(err)
	d.log.Error("cannot claim a file; it stays in the inbox and is tried again", zap.String("event", "claim_failed"),
		zap.String("name", name),
		zap.Int("tries", r.tries), zap.Duration("retry_in", wait), zap.Error(err))
}

// settleInWork waits until a claimed file is the one that settled, or has
// not changed for the settle time. It returns false if ctx ends first.
func (in *intake) settleInWork(ctx context.Context, job string, f settledFile) bool {
	path := in.d.spool.WorkPath(job)
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
		} else if time.Since(changed) >= in.d.settle {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(max(in.d.settle/4, 10*time.Millisecond)):
		}
	}
}

// rescanWork takes up the files in work/ that nobody holds. It returns
// false when ctx ended.
func (in *intake) rescanWork(ctx context.Context) bool {
	in.rescanAt = time.Now().Add(workRescan)
	jobs, err := in.d.spool.Pending()
	if err != nil {
		in.d.log.Error("cannot look through work/", zap.Error(err))
		return true
	}
	for _, job := range jobs {
		if in.d.inWork.has(job) {
			continue
		}
		in.d.log.Info("taking up a file found in work/", zap.String("name", job))
		if !in.admit(ctx, job, job) {
			return false
		}
	}
	return true
}

// admit reads and checks a claimed file and queues it for the worker; a file
// that is not a valid task goes to failed/. A read that fails for a passing
// reason (no file descriptors or memory left, an I/O error) leaves it in
// work/ for a rescan. It returns false when ctx ended first: the file stays
// in work/ for the next start.
func (in *intake) admit(ctx context.Context, name, job string) bool {
	d := in.d
	if !d.inWork.add(job) {
		return true // already in hand
	}
	path := d.spool.WorkPath(job)
	info, err := os.Lstat(path)
	switch {
	case err != nil:
		d.inWork.drop(job)
		d.log.Error("a claimed file disappeared from work/", zap.String("name", job), zap.Error(err))
		return true
	case !info.Mode().IsRegular():
		d.fail(job, name, &puzzles.Error{Code: codeNotRegular,
			Message: fmt.Sprintf("%s is a %s, not a regular file; drop the task file itself", name, fileKind(info.Mode()))})
		return true
	case len(name) > spool.MaxNameBytes: // put in work/ by hand: claims send such names to failed/ at once
		d.fail(job, name, spool.NameTooLong(name))
		return true
	}
	// Over the memory budget, a file waits in work/ until one is answered.
	select {
	case <-d.budget.open.opened():
	case <-ctx.Done():
		return false
	}
	file, err := puzzles.ReadFile(path, d.limits)
	if err != nil {
		var perr *puzzles.Error
		switch {
		case errors.Is(err, fs.ErrNotExist): // a fleet gateway wrote its answer meanwhile
			d.inWork.drop(job)
			return true
		case passing(err):
			in.later(job, err)
		case !errors.As(err, &perr):
			d.fail(
				job,
				name,
				&puzzles.Error{Code: codeUnreadable, Message: fmt.Sprintf("cannot read %s: %v", name, errcode.PathCause(err))},
			)
		default:
			d.fail(job, name, config.NameLimit(err))
		}
		return true
	}
	if !file.Bundle && job != name {
		file.Tasks[0].DroppedAs = puzzles.TaskName(name)
	}
	j := newJob(name, job, file, info.Size())
	j.sink = d
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		j.ino = st.Ino
	}
	return d.enqueue(ctx, j, d.claims)
}

// later leaves a file whose read failed for a passing reason in work/, and
// looks through work/ again soon, then less often.
func (in *intake) later(job string, err error) {
	in.d.inWork.drop(job)
	in.laterTries++
	wait := Backoff(in.laterTries, time.Second, workRescan)
	in.rescanAt = time.Now().Add(wait)
	in.d.log.Warn("cannot read a claimed file for now; it stays in work/ and is read again",
		zap.String("event", "read_retry"), zap.String("name", job),
		zap.Duration("retry_in", wait), zap.Error(err))
}

// passing reports errors that say nothing about the file: the system is
// short of descriptors, memory or space, or the disk failed a read. The
// file is read again later rather than failed for good.
func passing(err error) bool {
	for _, errno := range []syscall.Errno{
		syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.EIO, syscall.ENOSPC, syscall.EAGAIN, syscall.EINTR,
	} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
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
