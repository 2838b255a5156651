package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/hrmd/hrmd/internal/atomicfile"
)

// inboxDir is the inbox held by identity: the folder at the inbox path when
// the spool opened (its device and inode), held open, so that files are
// only ever claimed from it. Were the path later made a symbolic link to
// another folder, or a mount of another filesystem, hrmd would otherwise
// move out every file there, whatever its name. A new real folder at the
// path, on the same filesystem (the inbox deleted and created again), is
// taken as the inbox; anything else stops the claims until the path is the
// inbox again (check says why).
type inboxDir struct {
	path string // as configured, symbolic links resolved at start

	mu       sync.Mutex
	dir      *os.File // the folder claims come from
	dev, ino uint64
}

// InboxState is what CheckInbox finds at the inbox path.
type InboxState int

const (
	InboxSame     InboxState = iota // the folder held
	InboxReplaced                   // a new folder, now held instead
	InboxSwapped                    // something else: claims stop
)

func openInbox(path string) (*inboxDir, error) {
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, err
	}
	in := &inboxDir{path: resolved}
	if err := in.hold(); err != nil {
		return nil, err
	}
	return in, nil
}

// hold opens the folder now at the path, refusing a symbolic link.
func (in *inboxDir) hold() error {
	fd, err := unix.Open(in.path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: in.path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return &fs.PathError{Op: "stat", Path: in.path, Err: err}
	}
	if in.dir != nil {
		in.dir.Close()
	}
	in.dir, in.dev, in.ino = os.NewFile(uintptr(fd), in.path), uint64(st.Dev), st.Ino
	return nil
}

// check looks at what the path names now. A new real folder on the inbox's
// filesystem becomes the inbox; why says what else is there.
func (in *inboxDir) check() (state InboxState, why string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	var st unix.Stat_t
	err := unix.Lstat(in.path, &st)
	switch {
	case errors.Is(err, unix.ENOENT):
		return InboxSwapped, "the inbox folder is gone; create it again"
	case err != nil:
		return InboxSwapped, fmt.Sprintf("cannot look at the inbox: %v", err)
	case uint64(st.Dev) == in.dev && st.Ino == in.ino:
		return InboxSame, ""
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		target, _ := os.Readlink(in.path)
		return InboxSwapped, fmt.Sprintf("the inbox is now a symbolic link to %s; hrmd takes files only "+
			"from the folder it started with: put a real folder back at %s", target, in.path)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return InboxSwapped, fmt.Sprintf("%s is no longer a folder; put the inbox folder back", in.path)
	case uint64(st.Dev) != in.dev:
		return InboxSwapped, fmt.Sprintf("%s is now on another filesystem (mounted over?); hrmd takes files only "+
			"from the inbox on the spool's filesystem", in.path)
	}
	if err := in.hold(); err != nil {
		return InboxSwapped, fmt.Sprintf("cannot open the new inbox folder: %v", err)
	}
	return InboxReplaced, ""
}

// rename moves name from the held folder to dst without replacing anything.
func (in *inboxDir) rename(name, dst string) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return atomicfile.RenameNoReplaceAt(int(in.dir.Fd()), name, unix.AT_FDCWD, dst)
}

// lstat is what name in the held folder is now (symbolic links not followed).
func (in *inboxDir) lstat(name string) (unix.Stat_t, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	var st unix.Stat_t
	err := unix.Fstatat(int(in.dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	return st, err
}

// sync makes the claims from the held folder durable.
func (in *inboxDir) sync() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := in.dir.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", in.path, err)
	}
	return nil
}

func (in *inboxDir) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.dir.Close()
}
