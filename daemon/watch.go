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

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/spool"
)

// settledFile is an inbox file whose size and mtime have not changed for the
// settle time. Intake claims it only if it still looks exactly like this.
type settledFile struct {
	name  string
	size  int64
	mod   int64  // ns since 1970
	mode  uint32 // st_mode: type and permissions
	inode uint64
}

// snapshot is what a file looks like now, for comparing with later looks.
func snapshot(name string, info fs.FileInfo) settledFile {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok { // not from a local stat: size and time only
		return settledFile{name: name, size: info.Size(), mod: info.ModTime().UnixNano()}
	}
	return settledFile{name: name, size: st.Size, mod: st.Mtim.Nano(), mode: st.Mode, inode: st.Ino}
}

// watcher turns what happens in the inbox into settled files, in the order
// they first appeared. inotify tells it quickly; a full scan at start and
// every rescan interval, and after any watcher error (an event-queue
// overflow above all), makes sure nothing is missed, on network filesystems
// too, where inotify says nothing. Time is w.now's, so that tests step it.
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

	// spool, when set, has its inbox and lock checked every second and
	// whenever the inbox itself is removed or renamed; health carries what
	// the check found.
	spool  *spool.Spool
	health *inboxHealth

	// A scan or a watch that keeps failing (no descriptors left, say) is
	// logged when it starts failing, when the reason changes, and when it
	// works again: not once a second.
	scanFailing, watchFailing failing

	files    map[string]*tracked // changing, or not yet settled
	queue    []settledFile       // settled, waiting to be handed out, oldest first
	queued   map[string]bool     // the names in queue
	dirsSeen map[string]bool     // folders already warned about
}

type tracked struct {
	file    settledFile
	seen    time.Time // first seen: the order files are taken in
	changed time.Time // last seen to change
}

func newWatcher(dir string, settle, rescan time.Duration, log *zap.Logger, m *metrics) *watcher {
	return &watcher{dir: dir, settle: settle, rescan: rescan, log: log, metrics: m, now: time.Now,
		files: map[string]*tracked{}, queued: map[string]bool{}, dirsSeen: map[string]bool{}}
}

// run watches until ctx ends, handing settled files to out.
func (w *watcher) run(ctx context.Context, out chan<- settledFile) {
	fsw := w.newFSWatcher()
	defer func() {
		if fsw != nil {
			fsw.Close()
		}
	}()
	w.scan("start")
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
	for {
		var events chan fsnotify.Event
		var errs chan error
		if fsw != nil {
			events, errs = fsw.Events, fsw.Errors
		}
		var send chan<- settledFile
		var head settledFile
		if len(w.queue) > 0 {
			send, head = out, w.queue[0]
		}
		select {
		case <-ctx.Done():
			return
		case send <- head:
			w.handedOut()
		case ev, ok := <-events:
			if !ok {
				w.log.Error("the inotify watch on the inbox ended; scanning until it is back", zap.String("inbox", w.dir))
				fsw = nil
				continue
			}
			if filepath.Clean(ev.Name) == filepath.Clean(w.dir) { // the inbox itself went
				fsw = w.checkInbox(fsw)
				continue
			}
			w.observe(filepath.Base(ev.Name))
		case err, ok := <-errs:
			if !ok {
				fsw = nil
				continue
			}
			w.lostEvents(err)
		case <-tick.C:
			w.settled()
		case <-rescan:
			w.scan("timer")
		case <-retry.C:
			fsw = w.checkInbox(fsw)
			if fsw == nil && !w.noInotify && w.health.pathOK() {
				fsw = w.newFSWatcher()
				w.scan("no_watch")
			}
		}
	}
}

// checkInbox looks at what the inbox path names now, and whether this
// daemon still holds its lock. A new folder there (the inbox deleted and
// made again) is watched and scanned; anything else, or the lock held by
// another daemon, stops the claims, said once, until both are back. It
// returns the inotify watcher to use from now on.
func (w *watcher) checkInbox(fsw *fsnotify.Watcher) *fsnotify.Watcher {
	if w.spool == nil {
		return fsw
	}
	state, why := w.spool.CheckInbox()
	if state != spool.InboxSwapped {
		retaken, err := w.spool.CheckLock()
		if retaken {
			w.log.Warn(
				"the lock of this daemon's work/ folder was gone (spool/work deleted?); taken again",
				zap.String("work", w.spool.Work()),
			)
		}
		if err != nil {
			why = answer.Message(err)
		}
	}
	if why != "" {
		if w.health.set(false, why) {
			w.log.Error("the inbox is not usable; no files are taken until it is back",
				zap.String("event", "inbox_unusable"), zap.String("inbox", w.dir), zap.String("reason", why))
		}
		return fsw
	}
	if state == spool.InboxReplaced {
		w.log.Warn("the inbox folder was replaced by a new one (deleted and made again?); watching the new one",
			zap.String("event", "inbox_replaced"), zap.String("inbox", w.dir))
		if fsw != nil {
			fsw.Close()
		}
		fsw = w.newFSWatcher()
		w.files = map[string]*tracked{}
		w.scan("inbox_replaced")
	}
	if w.health.set(true, "") {
		w.log.Info("the inbox is usable again", zap.String("inbox", w.dir))
		w.scan("inbox_back")
	}
	return fsw
}

// observe records what a name looks like now.
func (w *watcher) observe(name string) {
	if spool.Ignored(name) || w.queued[name] || !w.health.pathOK() {
		return
	}
	info, err := os.Lstat(filepath.Join(w.dir, name))
	if err != nil {
		delete(w.files, name) // removed or renamed away
		return
	}
	if info.IsDir() {
		if !w.dirsSeen[name] {
			w.dirsSeen[name] = true
			w.log.Warn("a folder in the inbox is left alone; drop files, not folders", zap.String("name", name))
		}
		return
	}
	now := w.now()
	cur := snapshot(name, info)
	t := w.files[name]
	switch {
	case t == nil:
		w.files[name] = &tracked{file: cur, seen: now, changed: now}
		w.log.Debug("inbox file seen", zap.String("event", "inbox_file_seen"),
			zap.String("name", name), zap.Int64("size", cur.size))
	case t.file != cur:
		t.file, t.changed = cur, now
		w.log.Debug("inbox file changed", zap.String("event", "inbox_file_changed"),
			zap.String("name", name), zap.Int64("size", cur.size))
	}
}

// scan observes every name in the inbox and forgets those gone. While the
// inbox path is not the inbox, nothing there is looked at.
func (w *watcher) scan(why string) {
	if !w.health.pathOK() {
		return
	}
	entries, err := os.ReadDir(w.dir)
	if w.scanFailing.report(w.log, "cannot scan the inbox; trying again", "the inbox can be scanned again", w.dir, err) {
		return
	}
	present := map[string]bool{}
	for _, e := range entries {
		present[e.Name()] = true
		w.observe(e.Name())
	}
	for name := range w.files {
		if !present[name] {
			delete(w.files, name)
		}
	}
	w.metrics.rescans.WithLabelValues(why).Inc()
}

// settled queues the files unchanged for the settle time, oldest first,
// checking each once more so that a writer without inotify events (NFS) is
// caught too.
func (w *watcher) settled() {
	now := w.now()
	var ready []*tracked
	for name, t := range w.files {
		if now.Sub(t.changed) < w.settle {
			continue
		}
		w.observe(name)
		if t2 := w.files[name]; t2 != nil && now.Sub(t2.changed) >= w.settle {
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
		delete(w.files, t.file.name)
		w.queued[t.file.name] = true
		w.queue = append(w.queue, t.file)
		w.log.Debug("inbox file settled", zap.String("name", t.file.name), zap.Int64("size", t.file.size))
	}
}

// handedOut drops the queue's head, which intake now has, and tracks its
// name again: if it changed while queued, or intake cannot claim it, it
// settles anew; once claimed it is gone and dropped.
func (w *watcher) handedOut() {
	name := w.queue[0].name
	w.queue = w.queue[1:]
	delete(w.queued, name)
	w.observe(name)
}

// lostEvents rescans after a watcher error: events may have been dropped.
func (w *watcher) lostEvents(err error) {
	why := "watch_error"
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		why = "overflow"
	}
	w.log.Warn("inbox watch lost events; rescanning", zap.String("reason", why), zap.Error(err))
	w.scan(why)
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
	if w.watchFailing.report(
		w.log,
		"cannot watch the inbox with inotify; relying on scans (raise fs.inotify.max_user_watches or max_user_instances?)",
		"the inbox is watched with inotify again",
		w.dir,
		err,
	) {
		return nil
	}
	return fsw
}

// failing remembers why something keeps failing, so that it is logged once.
type failing struct{ why string }

// report logs err when it is new, or that it works again when err is nil
// after a failure, and returns whether err is set.
func (f *failing) report(log *zap.Logger, failed, works, dir string, err error) bool {
	switch {
	case err == nil && f.why != "":
		log.Info(works, zap.String("inbox", dir))
		f.why = ""
	case err != nil && err.Error() != f.why:
		log.Error(failed, zap.String("inbox", dir), zap.Error(err))
		f.why = err.Error()
	}
	return err != nil
}
