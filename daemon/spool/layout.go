package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/internal/errcode"
)

// Layout is where a spool's folders are: pure paths, nothing is looked at.
// Inbox and Outbox are hrmd.yaml's inbox and outbox, Root its spool, and
// Instance the daemon's name (its folder in work/).
type Layout struct {
	Inbox, Outbox, Root, Instance string
}

// WorkRoot is spool/work, holding every daemon's work/<instance>.
func (l Layout) WorkRoot() string { return filepath.Join(l.Root, "work") }

// Work is spool/work/<instance>, where this daemon's claimed files wait
// (work/ itself for instance "").
func (l Layout) Work() string { return filepath.Join(l.Root, "work", l.Instance) }

// Done is spool/done, the inputs answered.
func (l Layout) Done() string { return filepath.Join(l.Root, "done") }

// Failed is spool/failed, the inputs that failed, each with its error record.
func (l Layout) Failed() string { return filepath.Join(l.Root, "failed") }

// LockPath is the lock of work/<instance>, beside it: work/.<instance>.lock.
func (l Layout) LockPath() string { return lockPath(l.Work()) }

// lockPath is the lock file of a work/ folder.
func lockPath(dir string) string {
	return filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".lock")
}

// Folder is a folder hrmd writes, with the hrmd.yaml key that sets it.
type Folder struct{ Key, Dir string }

// Folders are the folders `hrmd run` creates and writes: the inbox, the
// outbox, work/<instance>, done/ and failed/.
func (l Layout) Folders() []Folder {
	return []Folder{
		{"inbox", l.Inbox},
		{"outbox", l.Outbox},
		{"spool", l.Work()},
		{"spool", l.Done()},
		{"spool", l.Failed()},
	}
}

// CodeUnusable is the stable code of a spool that cannot be used: a folder
// that cannot be created or written, a lock another daemon holds.
const CodeUnusable = errcode.SpoolUnusable

// CodeNameTooLong is the code of an input whose name leaves no room for the
// endings hrmd adds.
const CodeNameTooLong = errcode.NameTooLong

// CheckWritable checks that this user can create a file in dir.
func CheckWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".hrmd-probe-*")
	if err != nil {
		return errcode.PathCause(err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// CheckFolder checks a folder hrmd would write before it exists: at is dir
// itself, or the nearest parent that exists (where it would be created), ""
// when there is none; err says why at is no use (not a folder, not
// writable by this user).
func CheckFolder(dir string) (at string, err error) {
	for p := dir; ; p = filepath.Dir(p) {
		info, err := os.Stat(p)
		switch {
		case err == nil && !info.IsDir():
			return "", fmt.Errorf("%s is not a folder", p)
		case err == nil:
			return p, CheckWritable(p)
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("stat %s: %w", p, errcode.PathCause(err))
		case filepath.Dir(p) == p:
			return "", fmt.Errorf("no part of %s exists", dir)
		}
	}
}

// CheckInstance checks a daemon's instance name, the name of its folder
// in work/.
func CheckInstance(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || strings.HasPrefix(name, ".") {
		return fmt.Errorf("instance name %q cannot be a folder name; use letters, digits, - and _", name)
	}
	return nil
}

// CheckSameFilesystem checks that the inbox and the spool are on one
// filesystem: a claim is an atomic rename, which cannot cross them. inboxAt
// and workAt are where to look: the inbox and work/ themselves, or the
// folders they will be created in.
func (l Layout) CheckSameFilesystem(inboxAt, workAt string) error {
	inboxDev, err1 := device(inboxAt)
	workDev, err2 := device(workAt)
	if err := errors.Join(err1, err2); err != nil {
		return &answer.Error{Code: CodeUnusable, Message: err.Error(), Err: err}
	}
	if inboxDev != workDev {
		return &answer.Error{Code: CodeUnusable, Message: fmt.Sprintf("inbox %s and spool %s are on different filesystems; "+
			"a file is claimed by an atomic rename, which cannot cross them: put inbox and spool on one filesystem",
			l.Inbox, l.Root)}
	}
	return nil
}

func device(dir string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", dir, err)
	}
	return uint64(st.Dev), nil
}
