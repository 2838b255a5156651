// Package atomicfile writes files the way a hot folder's readers need: a
// reader sees the whole file or none of it, and a crash leaves no half file
// under the real name. The daemon's answers and error files, and the
// commands' --png, --report and --submission files, are written this way.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// tempPrefix starts every temporary name. The name is the same length
// whatever file it becomes, so that a file whose name is near the
// filesystem's limit (255 bytes) can still be written.
const tempPrefix = ".hrmd-"

// Write writes dir/name by way of a hidden temporary file in the same
// folder: written, fsynced, renamed, and the folder fsynced. An existing
// dir/name is replaced.
func Write(dir, name string, data []byte) error {
	return write(dir, name, data, os.Rename)
}

// WriteNew is Write that never replaces: when dir/name exists it fails with
// an error that matches fs.ErrExist, and leaves both files as they were.
func WriteNew(dir, name string, data []byte) error {
	return write(dir, name, data, RenameNoReplace)
}

func write(dir, name string, data []byte, rename func(old, new string) error) error {
	var suffix [6]byte
	rand.Read(suffix[:])
	tmp := filepath.Join(dir, tempPrefix+hex.EncodeToString(suffix[:])+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	return SyncDirs(dir)
}

// RenameNoReplace renames old to new, failing with an error that matches
// fs.ErrExist when new exists. Filesystems without RENAME_NOREPLACE get a
// hard link and an unlink, which also never replaces.
func RenameNoReplace(old, new string) error {
	return RenameNoReplaceAt(unix.AT_FDCWD, old, unix.AT_FDCWD, new)
}

// RenameNoReplaceAt is RenameNoReplace with each name relative to an open
// folder (or unix.AT_FDCWD): a folder held open is the same folder however
// its path is changed meanwhile.
func RenameNoReplaceAt(oldDir int, old string, newDir int, new string) error {
	err := unix.Renameat2(oldDir, old, newDir, new, unix.RENAME_NOREPLACE)
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS) {
		if err = unix.Linkat(oldDir, old, newDir, new, 0); err == nil {
			if err = unix.Unlinkat(oldDir, old, 0); err != nil {
				unix.Unlinkat(newDir, new, 0) // undo: the file must be in one place only
			}
		}
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
	}
	return nil
}

// IsTemporary recognises Write's temporary names: what a crash in the
// middle of a Write leaves behind. The longer ones of earlier versions ("." +
// name + "." + 12 hex digits + ".tmp") are recognised too, so that an
// upgrade clears them.
func IsTemporary(name string) bool {
	rest, ok := strings.CutSuffix(name, ".tmp")
	if !ok || !strings.HasPrefix(rest, ".") || len(rest) < 14 ||
		rest[len(rest)-13] != '.' && !strings.HasPrefix(rest, tempPrefix) {
		return false
	}
	_, err := hex.DecodeString(rest[len(rest)-12:])
	return err == nil
}

// SyncDirs fsyncs folders, making the renames in them durable.
func SyncDirs(dirs ...string) error {
	for _, dir := range dirs {
		d, err := os.Open(dir)
		if err != nil {
			return err
		}
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("sync %s: %w", dir, err)
		}
	}
	return nil
}
