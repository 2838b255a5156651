package daemon

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// settledFile is an inbox file whose size and mtime have not changed for the
// settle time. Intake claims it only if it still looks exactly like this.
type settledFile struct {
	name  string
	size  int64
	mod   time.Time
	mode  fs.FileMode
	inode uint64
}

// snapshot is what a file looks like now, for comparing with later looks.
func snapshot(name string, info fs.FileInfo) settledFile {
	return settledFile{name: name, size: info.Size(), mod: info.ModTime(), mode: info.Mode(), inode: inode(info)}
}

func (f settledFile) same(info fs.FileInfo) bool { return snapshot(f.name, info) == f }

func inode(info fs.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// watcher turns what happens in the inbox into settled files, in the order
// they first appeared. inotify tells it quickly; a full scan at start and
// every rescan interval, and after any watcher error (an event-queue
// overflow above all), makes sure nothing is missed, on network filesystems
// too, where inotify says nothing.
type watcher struct {
	dir     string
	settle  time.Duration
	rescan  time.Duration // 0 = only at start and after watcher errors
	log     *zap.Logger
	metrics *metrics
	now     func() time.Time
	// noInotify makes the watcher rely on scans alone, as it must on a
	// network filesystem where inotify reports nothing (tests use it).
	noInotify bool
}

type tracked struct {
	file    settledFile
	seen    time.Time // first seen: the order files are taken in
	changed time.Time // last seen to change
}

// run watches until ctx ends, handing settled files to out.
func (w *watcher) run(ctx context.Context, out chan<- settledFile) {
	files := map[string]*tracked{}
	var queue []settledFile
	queued := map[string]bool{}
	dirsSeen := map[string]bool{}

	// observe records what a name looks like now.
	observe := func(name string) {
		if ignored(name) || queued[name] {
			return
		}
		info, err := os.Lstat(filepath.Join(w.dir, name))
		if err != nil {
			delete(files, name) // removed or renamed away
			return
		}
		if info.IsDir() {
			if !dirsSeen[name] {
				dirsSeen[name] = true
				w.log.Warn("a folder in the inbox is left alone; drop files, not folders", zap.String("name", name))
			}
			return
		}
		now := w.now()
		cur := snapshot(name, info)
		t := files[name]
		if t == nil {
			files[name] = &tracked{file: cur, seen: now, changed: now}
			return
		}
		if t.file != cur {
			t.file, t.changed = cur, now
		}
	}
	scan := func(why string) {
		entries, err := os.ReadDir(w.dir)
		if err != nil {
			w.log.Error("cannot scan the inbox", zap.String("inbox", w.dir), zap.Error(err))
			return
		}
		present := map[string]bool{}
		for _, e := range entries {
			present[e.Name()] = true
			observe(e.Name())
		}
		for name := range files {
			if !present[name] {
				delete(files, name)
			}
		}
		w.metrics.rescans.WithLabelValues(why).Inc()
	}
	// settled moves the files unchanged for the settle time to the queue,
	// checking each once more so a writer without inotify events (NFS) is
	// caught too.
	settled := func() {
		now := w.now()
		var ready []*tracked
		for name, t := range files {
			if now.Sub(t.changed) < w.settle {
				continue
			}
			observe(name)
			if t2 := files[name]; t2 != nil && now.Sub(t2.changed) >= w.settle {
				ready = append(ready, t2)
			}
		}
		slices.SortFunc(ready, func(a, b *tracked) int {
			if c := a.seen.Compare(b.seen); c != 0 {
				return c
			}
			return cmp.Compare(a.file.name, b.file.name)
		})
		for _, t := range ready {
			delete(files, t.file.name)
			queued[t.file.name] = true
			queue = append(queue, t.file)
		}
	}

	fsw := w.newFSWatcher()
	scan("start")
	tick := time.NewTicker(max(w.settle/4, 10*time.Millisecond))
	defer tick.Stop()
	var rescan <-chan time.Time
	if w.rescan > 0 {
		t := time.NewTicker(w.rescan)
		defer t.Stop()
		rescan = t.C
	}
	retry := time.NewTicker(time.Second) // without inotify: scan, and try to watch again
	defer retry.Stop()
	defer func() {
		if fsw != nil {
			fsw.Close()
		}
	}()
	for {
		var events chan fsnotify.Event
		var errs chan error
		if fsw != nil {
			events, errs = fsw.Events, fsw.Errors
		}
		var send chan<- settledFile
		var head settledFile
		if len(queue) > 0 {
			send, head = out, queue[0]
		}
		select {
		case <-ctx.Done():
			return
		case send <- head:
			queue = queue[1:]
			delete(queued, head.name)
			// Track it again: if it changed while queued, or intake cannot
			// claim it, it settles anew; once claimed it is gone and dropped.
			observe(head.name)
		case ev, ok := <-events:
			if !ok {
				w.log.Error("the inotify watch on the inbox ended; scanning until it is back", zap.String("inbox", w.dir))
				fsw = nil
				continue
			}
			observe(filepath.Base(ev.Name))
		case err, ok := <-errs:
			if !ok {
				fsw = nil
				continue
			}
			why := "watch_error"
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				why = "overflow"
			}
			w.log.Warn("inbox watch lost events; rescanning", zap.String("reason", why), zap.Error(err))
			scan(why)
		case <-tick.C:
			settled()
		case <-rescan:
			scan("timer")
		case <-retry.C:
			if fsw == nil && !w.noInotify {
				fsw = w.newFSWatcher()
				scan("no_watch")
			}
		}
	}
}

// newFSWatcher watches the inbox with inotify, or returns nil (logged) when it
// cannot: the rescans still find every file, only later.
func (w *watcher) newFSWatcher() *fsnotify.Watcher {
	if w.noInotify {
		return nil
	}
	fsw, err := fsnotify.NewWatcher()
	if err == nil {
		if err = fsw.Add(w.dir); err != nil {
			fsw.Close()
		}
	}
	if err != nil {
		w.log.Error("cannot watch the inbox with inotify; relying on scans (raise fs.inotify.max_user_watches or max_user_instances?)",
			zap.String("inbox", w.dir), zap.Error(err))
		return nil
	}
	return fsw
}
