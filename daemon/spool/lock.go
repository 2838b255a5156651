package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/internal/atomicfile"
	"github.com/hrmd/hrmd/internal/errcode"
)

// ErrLockLost is a spool whose work/<instance> lock is held by another
// daemon now: the lock file was removed (rm -rf spool/work) or replaced,
// and another hrmd of this instance took the new one. This daemon claims
// nothing and writes nothing in work/ until it holds the lock again.
var ErrLockLost = errors.New("another hrmd holds this instance's lock")

// workLock is the lock this daemon holds, with the identity (device and
// inode) of the file it holds it on: a lock on a file no longer at the path
// locks nothing.
type workLock struct {
	f        *os.File
	path     string
	dev, ino uint64
}

// lockPatience is how long a start waits for a lock someone holds: another
// daemon's orphan check holds a folder's lock for a moment.
const lockPatience = 3 * time.Second

// lockWork locks work/<instance> for this daemon, or says who holds it.
func lockWork(work, instance string) (*workLock, error) {
	deadline := time.Now().Add(lockPatience)
	for {
		l, err := tryLock(work)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			return nil, lockError(work, instance, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lockError(work, instance string, err error) error {
	if !errors.Is(err, unix.EWOULDBLOCK) {
		return &answer.Error{Code: CodeUnusable, Err: err,
			Message: fmt.Sprintf("spool: cannot lock %s: %v; let the hrmd user write to it", work, errcode.PathCause(err))}
	}
	holder := "another hrmd"
	if pid, rerr := os.ReadFile(lockPath(work)); rerr == nil && len(strings.TrimSpace(string(pid))) > 0 {
		holder += " (pid " + strings.TrimSpace(string(pid)) + ")"
	}
	return &answer.Error{Code: CodeUnusable, Err: errors.Join(ErrLockLost, err), Message: fmt.Sprintf(
		"%s runs as instance %q on this spool (it holds %s): stop it, "+
			"or give this daemon another name (--instance or $HRMD_INSTANCE)",
		holder, instance, work)}
}

// tryLock locks dir's lock file without waiting; the error matches
// unix.EWOULDBLOCK when someone holds it.
func tryLock(dir string) (*workLock, error) {
	path := lockPath(dir)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, err
	}
	// The pid is for the message another daemon of this name gets.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &workLock{f: f, path: path, dev: uint64(st.Dev), ino: st.Ino}, nil
}

// holds reports whether the lock's path is still the file locked.
func (l *workLock) holds() bool {
	var st unix.Stat_t
	return unix.Stat(l.path, &st) == nil && uint64(st.Dev) == l.dev && st.Ino == l.ino
}

// CheckLock makes sure this daemon holds work/<instance>'s lock by
// identity: the file at the lock's path is the one locked. When the path is
// gone or names another file, it creates work/<instance> again and takes
// the lock anew (retaken), or, when another daemon holds it now, returns
// an error matching ErrLockLost. Claim, Pending and Write check it first;
// the daemon checks it every second besides.
func (s *Spool) CheckLock() (retaken bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkLock()
}

func (s *Spool) checkLock() (retaken bool, err error) {
	if s.lock != nil && s.lock.holds() {
		return false, nil
	}
	if err := os.MkdirAll(s.Work(), 0o755); err != nil {
		return false, &answer.Error{Code: CodeUnusable, Err: err,
			Message: fmt.Sprintf("spool: cannot create %s again: %v", s.Work(), errcode.PathCause(err))}
	}
	l, err := tryLock(s.Work())
	if err != nil {
		return false, lockError(s.Work(), s.Instance, err)
	}
	if s.lock != nil {
		s.lock.f.Close()
	}
	s.lock = l
	return true, nil
}

// Orphan is a work/ folder that no running daemon holds, with files in it.
type Orphan struct {
	Dir  string
	Jobs []string
}

// Orphans finds the other instances' work/ folders that hold files and
// whose lock nobody holds: their files would wait there for ever.
func (s *Spool) Orphans() []Orphan {
	entries, _ := os.ReadDir(s.WorkRoot())
	var found []Orphan
	for _, e := range entries {
		dir := filepath.Join(s.WorkRoot(), e.Name())
		if !e.IsDir() || dir == s.Work() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		l, err := tryLock(dir)
		if err != nil {
			continue // running, or not ours to look at
		}
		if jobs, err := listJobs(dir); err == nil && len(jobs) > 0 {
			found = append(found, Orphan{Dir: dir, Jobs: jobs})
		}
		l.f.Close()
	}
	return found
}

// Adopt moves an orphaned folder's files into this daemon's work/, under
// names no other file has, while holding that folder's lock. It returns
// the names they have here.
func (s *Spool) Adopt(o Orphan) ([]string, error) {
	l, err := tryLock(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", o.Dir, err)
	}
	defer l.f.Close()
	var adopted []string
	for _, job := range o.Jobs {
		for n := 0; ; n++ {
			n = nextFree(n, func(n int) bool { return s.takenBesides(jobName(job, n), o.Dir) })
			name := jobName(job, n)
			err := atomicfile.RenameNoReplace(filepath.Join(o.Dir, job), filepath.Join(s.Work(), name))
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return adopted, fmt.Errorf("move %s to %s: %w", filepath.Join(o.Dir, job), s.Work(), err)
			}
			if err == nil {
				s.carryMark(o.Dir, job, name)
				adopted = append(adopted, name)
			}
			break
		}
	}
	return adopted, atomicfile.SyncDirs(s.Work(), o.Dir)
}
