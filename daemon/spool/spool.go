package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/internal/atomicfile"
	"github.com/hrmd/hrmd/internal/errcode"
)

// Spool is an open spool: its folders, the inbox held by identity and the
// lock of work/<instance>. Its methods are safe for concurrent use.
type Spool struct {
	Layout
	in *inboxDir

	mu   sync.Mutex // guards lock
	lock *workLock
}

// ErrGone is a claim of a file that is no longer in the inbox (taken by
// another daemon, or removed by its owner).
var ErrGone = errors.New("no longer in the inbox")

// ErrInputGone is a result whose input is no longer in work/ (removed by
// an admin, or work/ deleted): there is nothing left to retire, and
// nothing more is written for it.
var ErrInputGone = errors.New("the input is no longer in work/")

// Open creates the folders that are missing, checks that each can be
// written (so that a permission problem stops the start with a clear
// message instead of stranding files later), that the inbox and the spool
// share a filesystem, and takes the lock of work/<instance>.
func Open(l Layout) (*Spool, error) {
	s := &Spool{Layout: l}
	for _, f := range l.Folders() {
		if err := os.MkdirAll(f.Dir, 0o755); err != nil {
			return nil, &answer.Error{Code: CodeUnusable, Err: err, Message: fmt.Sprintf(
				"%s: cannot create %s: %v; create it and let the hrmd user write to it, or set %s in hrmd.yaml",
				f.Key, f.Dir, errcode.PathCause(err), f.Key)}
		}
		if err := CheckWritable(f.Dir); err != nil {
			return nil, &answer.Error{Code: CodeUnusable, Err: err, Message: fmt.Sprintf(
				"%s: %s is not writable: %v; let the hrmd user write to it, or set %s in hrmd.yaml",
				f.Key, f.Dir, err, f.Key)}
		}
	}
	if err := l.CheckSameFilesystem(l.Inbox, l.Work()); err != nil {
		return nil, err
	}
	var err error
	if s.lock, err = lockWork(l.Work(), l.Instance); err != nil {
		return nil, err
	}
	if s.in, err = openInbox(l.Inbox); err != nil {
		s.lock.f.Close()
		return nil, &answer.Error{Code: CodeUnusable, Err: err, Message: fmt.Sprintf("inbox: %v", err)}
	}
	return s, nil
}

// Close lets another daemon of this instance start.
func (s *Spool) Close() {
	s.in.close()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lock.f.Close()
}

// InboxPath is the inbox folder, symbolic links resolved at Open.
func (s *Spool) InboxPath() string { return s.in.path }

// CheckInbox looks at what the inbox path names now: the folder held, a
// new folder on the same filesystem (held from now on), or something
// else, which stops the claims (why says what).
func (s *Spool) CheckInbox() (InboxState, string) { return s.in.check() }

// StatInbox is what name in the inbox held is now (symbolic links not followed).
func (s *Spool) StatInbox(name string) (unix.Stat_t, error) { return s.in.lstat(name) }

// WorkPath is where a claimed job's input is.
func (s *Spool) WorkPath(job string) string { return filepath.Join(s.Work(), job) }

// Claimed is where a claimed file went.
type Claimed struct {
	Job string // its name in work/
	// Failed is its name in failed/, beside Record, when it went there
	// straight from the inbox (a name too long to answer); Job is "" then.
	Failed string
	Record *ErrorFile
}

// Claim moves inbox/name into work/ under a job name free everywhere a
// job's files go (nextFree: the name itself, or with a suffix). A name too
// long to answer goes to failed/ instead, with its error record. The
// errors: ErrGone (the file left the inbox first), one matching
// ErrLockLost, or why the move failed (EXDEV under a mount over the inbox,
// a permission), which leaves the file in the inbox. When the move
// happened but could not be made durable, the claim is returned with the
// error.
func (s *Spool) Claim(name string) (Claimed, error) {
	if _, err := s.CheckLock(); err != nil {
		return Claimed{}, err
	}
	if len(name) > MaxNameBytes {
		return s.failTooLong(name)
	}
	remade := false
	for n := 0; ; n++ {
		n = nextFree(n, func(n int) bool { return s.taken(jobName(name, n)) })
		job := jobName(name, n)
		err := s.in.rename(name, s.WorkPath(job))
		switch {
		case errors.Is(err, fs.ErrExist):
			continue
		case errors.Is(err, fs.ErrNotExist):
			if _, serr := s.in.lstat(name); errors.Is(serr, unix.ENOENT) {
				return Claimed{}, ErrGone
			}
			// The file is there: work/<instance> is not (deleted under
			// the daemon). Made again once, as at the start.
			if remade {
				return Claimed{}, fmt.Errorf("claim %s: %s is gone and comes back no more: %w", name, s.Work(), err)
			}
			if err := os.MkdirAll(s.Work(), 0o755); err != nil {
				return Claimed{}, fmt.Errorf("claim %s: create %s again: %w", name, s.Work(), err)
			}
			remade = true
			n--
			continue
		case err != nil:
			return Claimed{}, fmt.Errorf("claim %s: %w", name, err)
		}
		s.dropMark(job) // a mark left by an earlier job of this name is not this one's
		if err := errors.Join(atomicfile.SyncDirs(s.Work()), s.in.sync()); err != nil {
			return Claimed{Job: job},
				fmt.Errorf("claimed %s as %s, but the move may not survive a power cut: %w", name, job, err)
		}
		return Claimed{Job: job}, nil
	}
}

// taken reports whether a job name is in use anywhere a job's files go: the
// name itself, or the other spelling answered by the same outbox file ("t"
// and "t.json" both answer as t.json), in any daemon's work/, in done/,
// failed/ (as an input or an error record), or as an answer or a picture
// in the outbox.
func (s *Spool) taken(job string) bool { return s.takenBesides(job, "") }

// takenBesides is taken, not counting the work/ folder besides (the
// orphaned folder a file is adopted from, which holds it).
func (s *Spool) takenBesides(job, besides string) bool {
	answer := AnswerName(job)
	if exists(filepath.Join(s.Outbox, answer)) || exists(filepath.Join(s.Outbox, PictureName(job))) {
		return true
	}
	instances, _ := os.ReadDir(s.WorkRoot())
	for _, name := range []string{strings.TrimSuffix(answer, ".json"), answer} {
		if exists(filepath.Join(s.Done(), name)) || exists(filepath.Join(s.Failed(), name)) ||
			exists(filepath.Join(s.Failed(), ErrorName(name))) {
			return true
		}
		for _, inst := range instances {
			if dir := filepath.Join(s.WorkRoot(), inst.Name()); dir != besides && exists(filepath.Join(dir, name)) {
				return true
			}
		}
	}
	return false
}

// Pending lists the jobs in work/<instance> (an earlier run's at start,
// or those nobody holds later), oldest first. It fails with ErrLockLost
// when another daemon holds this instance's lock.
func (s *Spool) Pending() ([]string, error) {
	if _, err := s.CheckLock(); err != nil {
		return nil, err
	}
	return listJobs(s.Work())
}

// listJobs lists the files in a work/ folder, oldest first.
func listJobs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	type job struct {
		name string
		mod  time.Time
	}
	var jobs []job
	for _, e := range entries {
		if Ignored(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		jobs = append(jobs, job{e.Name(), info.ModTime()})
	}
	slices.SortStableFunc(jobs, func(a, b job) int { return a.mod.Compare(b.mod) })
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.name
	}
	return names, nil
}

// RemoveTemporaries deletes the temporary files of writes that a crash
// interrupted (atomicfile's hidden temporaries) from the outbox and
// failed/, and the marks in work/<instance> whose input is no longer there
// (a kill after the input moved), and returns how many it removed. Only
// hrmd writes such names.
func (s *Spool) RemoveTemporaries() int {
	n := 0
	for _, dir := range []string{s.Outbox, s.Failed(), s.Work()} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if (dir != s.Work() && atomicfile.IsTemporary(e.Name()) || dir == s.Work() && s.staleMark(e.Name())) &&
				os.Remove(filepath.Join(dir, e.Name())) == nil {
				n++
			}
		}
	}
	return n
}
