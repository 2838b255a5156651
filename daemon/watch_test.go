package daemon

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hrmd/hrmd/internal/testenv"
)

// fakeClock is the watcher's time in tests: it moves only when told to.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

const testSettle = 250 * time.Millisecond

// steppedWatcher is a watcher on dir whose clock the test moves and whose
// steps the test calls: no goroutine, no inotify, no real time.
func steppedWatcher(dir string) (*watcher, *fakeClock) {
	clock := &fakeClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	w := newWatcher(dir, testSettle, 0, zap.NewNop(), newMetrics())
	w.now = clock.now
	w.noInotify = true
	return w, clock
}

func queuedNames(w *watcher) []string {
	var out []string
	for _, f := range w.queue {
		out = append(out, f.name)
	}
	return out
}

func appendTo(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// A file is queued only once it has not changed for the settle time, by the
// watcher's clock: a writer adding a chunk every half settle time keeps it
// back, whether or not an event told the watcher (the check before queueing
// sees a change no event reported, as on NFS). Names to ignore and folders
// are never queued.
func TestWatcherSettles(t *testing.T) {
	dir := t.TempDir()
	w, clock := steppedWatcher(dir)
	for _, name := range []string{".hidden.json", "x.json.tmp", "x.json.part", "x.json~"} {
		testenv.WriteFile(t, dir, name, "{}")
	}
	if err := os.Mkdir(filepath.Join(dir, "folder.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "a.json")
	appendTo(t, path, `{"test": [] }`)
	w.scan("start")
	for chunk := 2; chunk <= 4; chunk++ {
		clock.advance(testSettle / 2)
		w.settled()
		if len(w.queue) != 0 {
			t.Fatalf("before chunk %d: queued %v while the file is being written", chunk, queuedNames(w))
		}
		appendTo(t, path, `{"test": [] }`)
		if chunk != 3 { // chunk 3 comes without an event
			w.observe("a.json")
		}
	}
	clock.advance(testSettle - time.Nanosecond)
	w.settled()
	if len(w.queue) != 0 {
		t.Fatalf("queued %v before the settle time passed", queuedNames(w))
	}
	clock.advance(time.Nanosecond)
	w.settled()
	if len(w.queue) != 1 || w.queue[0].name != "a.json" || w.queue[0].size != 4*13 {
		t.Fatalf("queue %+v, want a.json with all 4 chunks (%d bytes)", w.queue, 4*13)
	}
	// Handed out, then claimed (renamed out of the inbox): it is dropped,
	// and nothing else ever settles.
	w.handedOut()
	if err := os.Rename(path, filepath.Join(t.TempDir(), "a.json")); err != nil {
		t.Fatal(err)
	}
	w.observe("a.json")
	clock.advance(10 * testSettle)
	w.settled()
	w.scan("timer")
	clock.advance(10 * testSettle)
	w.settled()
	if len(w.queue) != 0 || len(w.files) != 0 {
		t.Errorf("after the claim: queue %v, tracking %d files; want nothing", queuedNames(w), len(w.files))
	}
}

// A change no event reported (a writer on NFS) is seen by the check before
// queueing, and restarts the settle time.
func TestWatcherSettleCheckSeesUnreportedChange(t *testing.T) {
	dir := t.TempDir()
	w, clock := steppedWatcher(dir)
	path := filepath.Join(dir, "nfs.json")
	appendTo(t, path, "{")
	w.scan("start")
	clock.advance(testSettle)
	appendTo(t, path, "}") // no event: NFS
	w.settled()
	if len(w.queue) != 0 {
		t.Fatalf("queued %v although it changed since it was last seen", queuedNames(w))
	}
	clock.advance(testSettle)
	w.settled()
	if !slices.Equal(queuedNames(w), []string{"nfs.json"}) || w.queue[0].size != 2 {
		t.Fatalf("queue %+v, want nfs.json as it is now", w.queue)
	}
}

// Files are queued in the order they were first seen, then by name, however
// long each took to settle.
func TestWatcherOrder(t *testing.T) {
	dir := t.TempDir()
	w, clock := steppedWatcher(dir)
	testenv.WriteFile(t, dir, "b.json", "1")
	testenv.WriteFile(t, dir, "a.json", "1")
	w.scan("start") // both seen at once: by name
	clock.advance(testSettle / 2)
	testenv.WriteFile(t, dir, "c.json", "1")
	w.observe("c.json")
	appendTo(t, filepath.Join(dir, "a.json"), "2") // a.json settles last, but was seen first
	w.observe("a.json")
	clock.advance(testSettle)
	w.settled()
	if got := queuedNames(w); !slices.Equal(got, []string{"a.json", "b.json", "c.json"}) {
		t.Errorf("queue %v, want a.json b.json c.json", got)
	}
}

// A file replaced while it waits in the queue is handed out as it settled
// (intake sees the difference and leaves it), then tracked again and queued
// anew as it is now, without waiting for a rescan.
func TestWatcherRetracksHandedOutFile(t *testing.T) {
	dir := t.TempDir()
	w, clock := steppedWatcher(dir)
	path := filepath.Join(dir, "a.json")
	appendTo(t, path, "first")
	w.scan("start")
	clock.advance(testSettle)
	w.settled()
	tmp := filepath.Join(dir, ".a.json.new")
	testenv.WriteFile(t, dir, ".a.json.new", "second, longer")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	w.observe("a.json") // queued: not tracked meanwhile
	if len(w.queue) != 1 || w.queue[0].size != int64(len("first")) {
		t.Fatalf("queue %+v, want a.json as it settled", w.queue)
	}
	w.handedOut()
	clock.advance(testSettle)
	w.settled()
	if len(w.queue) != 1 || w.queue[0].name != "a.json" || w.queue[0].size != int64(len("second, longer")) {
		t.Fatalf("queue %+v, want the replaced a.json queued again as it is now", w.queue)
	}
}

// The running watcher: with inotify (and no timed rescan) a dropped file is
// handed out; without it (a network filesystem) the timed rescan finds a
// file dropped after the start scan.
func TestWatcherRun(t *testing.T) {
	for _, inotify := range []bool{true, false} {
		dir := t.TempDir()
		rescan := 50 * time.Millisecond
		if inotify {
			rescan = 0
		}
		w := newWatcher(dir, 20*time.Millisecond, rescan, zap.NewNop(), newMetrics())
		w.noInotify = !inotify
		ctx, cancel := context.WithCancel(context.Background())
		out := make(chan settledFile)
		done := make(chan struct{})
		go func() { defer close(done); w.run(ctx, out) }()
		testenv.WaitFor(t, 10*time.Second, "the start scan", func() bool {
			return testutil.ToFloat64(w.metrics.rescans.WithLabelValues("start")) == 1
		})
		testenv.WriteFile(t, dir, ".x.json.writing", "{}")
		if err := os.Rename(filepath.Join(dir, ".x.json.writing"), filepath.Join(dir, "x.json")); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-out:
			if got.name != "x.json" {
				t.Errorf("inotify %v: handed out %s", inotify, got.name)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("inotify %v: x.json never handed out", inotify)
		}
		scans := testutil.ToFloat64(
			w.metrics.rescans.WithLabelValues("timer"),
		) + testutil.ToFloat64(
			w.metrics.rescans.WithLabelValues("no_watch"),
		)
		if inotify && scans > 0 || !inotify && scans == 0 {
			t.Errorf("inotify %v: %g rescans besides the start's", inotify, scans)
		}
		cancel()
		<-done
	}
}

// A scan that keeps failing is logged once, and again when it works: an
// inbox without descriptors left must not fill the journal.
func TestWatcherLogsAFailingScanOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "inbox")
	core, logs := observer.New(zap.InfoLevel)
	w, _ := steppedWatcher(dir)
	w.log = zap.New(core)
	for range 5 {
		w.scan("timer")
	}
	if n := logs.FilterMessage("cannot scan the inbox; trying again").Len(); n != 1 {
		t.Errorf("5 failed scans logged %d times, want once", n)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w.scan("timer")
	w.scan("timer")
	if n := logs.FilterMessage("the inbox can be scanned again").Len(); n != 1 {
		t.Errorf("the scan working again logged %d times, want once", n)
	}
}
