// Package atomicfile writes files the way a hot folder's readers need: a
// reader sees the whole file or none of it, and a crash leaves no half file
// under the real name. The daemon's answers and error files, and the
// commands' --png, --report and --submission files, are written this way.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Write writes dir/name by way of a hidden temporary file in the same
// folder: written, fsynced, renamed, and the folder fsynced. An existing
// dir/name is replaced.
func Write(dir, name string, data []byte) error {
	var suffix [6]byte
	rand.Read(suffix[:])
	tmp := filepath.Join(dir, "."+name+"."+hex.EncodeToString(suffix[:])+".tmp")
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
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	return SyncDirs(dir)
}

// IsTemporary recognises Write's temporary names ("." + name + "." + 12 hex
// digits + ".tmp"): what a crash in the middle of a Write leaves behind.
func IsTemporary(name string) bool {
	rest, ok := strings.CutSuffix(name, ".tmp")
	if !ok || !strings.HasPrefix(rest, ".") || len(rest) < 14 || rest[len(rest)-13] != '.' {
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
