package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/internal/atomicfile"
)

// lockPath is the lock file of a work/<instance>/ folder, beside it:
// work/.<instance>.lock, held (flock) by the daemon of that instance while
// it runs, so that two daemons given one name cannot run the same files
// twice, and work/ folders that nobody holds can be found (orphans: the
// host was renamed, say, and the default instance name with it).
func lockPath(dir string) string {
	return filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".lock")
}

// lockPatience is how long a start waits for a lock someone holds: another
// daemon's orphan check holds a folder's lock for a moment.
const lockPatience = 3 * time.Second

// lockWork locks work/<instance> for this daemon, or says who holds it.
func lockWork(work, instance string) (*os.File, error) {
	deadline := time.Now().Add(lockPatience)
	for {
		f, err := tryLock(work)
		if err == nil {
			// The pid is for the message another daemon of this name gets.
			if f.Truncate(0) == nil {
				f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
			}
			return f, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			return nil, lockError(work, instance, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lockError(work, instance string, err error) error {
	if !errors.Is(err, unix.EWOULDBLOCK) {
		return &answer.Error{Code: CodeSpool, Err: err, Message: fmt.Sprintf("spool: cannot lock %s: %v; let the hrmd user write to it", work, unwrapPath(err))}
	}
	holder := "another hrmd"
	if pid, rerr := os.ReadFile(lockPath(work)); rerr == nil && len(strings.TrimSpace(string(pid))) > 0 {
		holder += " (pid " + strings.TrimSpace(string(pid)) + ")"
	}
	return &answer.Error{Code: CodeSpool, Err: err, Message: fmt.Sprintf(
		"%s runs as instance %q on this spool (it holds %s): stop it, or give this daemon another name (--instance or $HRMD_INSTANCE)",
		holder, instance, work)}
}

// tryLock locks dir's lock file without waiting; the error matches
// unix.EWOULDBLOCK when someone holds it.
func tryLock(dir string) (*os.File, error) {
	f, err := os.OpenFile(lockPath(dir), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// orphan is a work/ folder that no running daemon holds, with files in it.
type orphan struct {
	dir  string
	jobs []string
}

// orphans finds the other instances' work/ folders that hold files and
// whose lock nobody holds: their files would wait there for ever.
func (s *spool) orphans() []orphan {
	entries, _ := os.ReadDir(s.workRoot)
	var found []orphan
	for _, e := range entries {
		dir := filepath.Join(s.workRoot, e.Name())
		if !e.IsDir() || dir == s.work || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		f, err := tryLock(dir)
		if err != nil {
			continue // running, or not ours to look at
		}
		if jobs, err := listJobs(dir); err == nil && len(jobs) > 0 {
			found = append(found, orphan{dir: dir, jobs: jobs})
		}
		f.Close()
	}
	return found
}

// adopt moves an orphaned folder's files into this daemon's work/, under
// names no other file has, while holding that folder's lock. It returns
// the names they have here.
func (s *spool) adopt(o orphan) ([]string, error) {
	f, err := tryLock(o.dir)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", o.dir, err)
	}
	defer f.Close()
	var adopted []string
	for _, job := range o.jobs {
		for n := 0; ; n++ {
			name := jobName(job, n)
			if s.takenBesides(name, o.dir) {
				continue
			}
			err := atomicfile.RenameNoReplace(filepath.Join(o.dir, job), filepath.Join(s.work, name))
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return adopted, fmt.Errorf("move %s to %s: %w", filepath.Join(o.dir, job), s.work, err)
			}
			if err == nil {
				adopted = append(adopted, name)
			}
			break
		}
	}
	return adopted, atomicfile.SyncDirs(s.work, o.dir)
}

// takeUpOrphans reports orphaned work/ folders at start, and with adopt
// moves their files here; it returns the files adopted.
func (d *daemon) takeUpOrphans(adopt bool) []string {
	var adopted []string
	for _, o := range d.spool.orphans() {
		if !adopt {
			d.metrics.orphaned.Add(float64(len(o.jobs)))
			d.log.Warn("files wait in a work/ folder no running hrmd holds (was the host renamed? the instance name defaults to it): start one daemon with --adopt-orphans to answer them, or run one as that instance",
				zap.String("folder", o.dir), zap.Int("files", len(o.jobs)))
			continue
		}
		jobs, err := d.spool.adopt(o)
		adopted = append(adopted, jobs...)
		if err != nil {
			d.log.Error("cannot take up every file of an orphaned work/ folder", zap.String("folder", o.dir), zap.Int("taken", len(jobs)), zap.Error(err))
			continue
		}
		d.log.Info("took up the files of an orphaned work/ folder", zap.String("folder", o.dir), zap.Int("files", len(jobs)))
	}
	return adopted
}
