package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
)

// What the spool-fault scenarios (errornames, outboxput, stuckinput,
// donegone, rmwork, bindinbox, manynames) share: files put down without
// replacing anything, bounded waits whose outcome is a finding rather than
// an error, and a watch on how often a path is written.

// userBytes is the content of a file a user put where the daemon writes.
func userBytes(label string) []byte {
	return []byte("the user's own file " + label + ": hrmd must not replace it\n")
}

// placeNew puts a user's file at path unless something is there already
// (fs.ErrExist): unlike place, it never replaces what the daemon wrote.
func (s *spool) placeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return s.m.placed(path)
}

// within polls cond until it holds or timeout passes, and reports whether
// it held: for a state the daemon should reach, whose absence is a finding
// and not the end of the scenario.
func within(timeout, every time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(every) // the polling rate
	}
	return true
}

// gone reports whether nothing is at path.
func gone(path string) bool {
	_, err := os.Lstat(path)
	return errors.Is(err, fs.ErrNotExist)
}

// writeWatch counts the writes of files in a folder, each write seen as a
// new (inode, modification time, size) of its name: a file written once
// and never again counts 1, one written again every retry counts each.
type writeWatch struct {
	mu     sync.Mutex
	seen   map[string][]fileStamp
	poller *poller
}

type fileStamp struct {
	ino  uint64
	mod  int64
	size int64
}

// watchWrites starts counting the writes of names in dir.
func watchWrites(dir string, names ...string) *writeWatch {
	w := &writeWatch{seen: map[string][]fileStamp{}}
	w.poller = poll(20*time.Millisecond, func() {
		for _, name := range names {
			info, err := os.Lstat(filepath.Join(dir, name))
			if err != nil {
				continue
			}
			st, _ := info.Sys().(*syscall.Stat_t)
			stamp := fileStamp{st.Ino, info.ModTime().UnixNano(), info.Size()}
			w.mu.Lock()
			if !slices.Contains(w.seen[name], stamp) {
				w.seen[name] = append(w.seen[name], stamp)
			}
			w.mu.Unlock()
		}
	})
	return w
}

// writes ends the watch and says how often each name was written.
func (w *writeWatch) writes() map[string]int {
	w.poller.end()
	w.mu.Lock()
	defer w.mu.Unlock()
	n := map[string]int{}
	for name, stamps := range w.seen {
		n[name] = len(stamps)
	}
	return n
}

// median of durations (0 when none), and the largest.
func medianMax(ds []time.Duration) (time.Duration, time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
