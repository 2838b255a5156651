package daemon

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
)

func startWatcher(t *testing.T, w *watcher) <-chan settledFile {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan settledFile)
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx, out) }()
	t.Cleanup(func() { cancel(); <-done })
	return out
}

func newTestWatcher(dir string, settle, rescan time.Duration) *watcher {
	return &watcher{dir: dir, settle: settle, rescan: rescan, log: zap.NewNop(), metrics: newMetrics(), now: time.Now}
}

func expectNone(t *testing.T, out <-chan settledFile, within time.Duration) {
	t.Helper()
	select {
	case f := <-out:
		t.Fatalf("%s handed out, want nothing", f.name)
	case <-time.After(within):
	}
}

// A file is handed out once, only after it stopped changing for the settle
// time; names to ignore and folders never are.
func TestWatcherSettles(t *testing.T) {
	dir := t.TempDir()
	const settle = 300 * time.Millisecond
	out := startWatcher(t, newTestWatcher(dir, settle, 0))
	for _, name := range []string{".hidden.json", "x.json.tmp", "x.json.part", "x.json~"} {
		touch(t, filepath.Join(dir, name), "{}")
	}
	if err := os.Mkdir(filepath.Join(dir, "folder.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "a.json"))
	if err != nil {
		t.Fatal(err)
	}
	var lastWrite time.Time
	for range 4 {
		f.WriteString(`{"test": [] }`)
		lastWrite = time.Now()
		time.Sleep(settle / 2)
	}
	f.Close()
	select {
	case got := <-out:
		if got.name != "a.json" || got.size != 4*13 {
			t.Fatalf("handed out %+v", got)
		}
		if since := time.Since(lastWrite); since < settle {
			t.Errorf("handed out %s after the last write, before the settle time %s", since, settle)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a.json was never handed out")
	}
	// Intake claims it (a rename out of the inbox): it is not handed out again.
	if err := os.Rename(filepath.Join(dir, "a.json"), filepath.Join(t.TempDir(), "a.json")); err != nil {
		t.Fatal(err)
	}
	expectNone(t, out, 2*settle)
}

// Without inotify (a network filesystem), the timed rescan finds new files.
func TestWatcherRescanWithoutInotify(t *testing.T) {
	dir := t.TempDir()
	w := newTestWatcher(dir, 50*time.Millisecond, 200*time.Millisecond)
	w.noInotify = true
	out := startWatcher(t, w)
	time.Sleep(100 * time.Millisecond) // after the start scan
	touch(t, filepath.Join(dir, "nfs.json"), "{}")
	select {
	case got := <-out:
		if got.name != "nfs.json" {
			t.Fatalf("handed out %s", got.name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the rescan never found nfs.json")
	}
}

// A file replaced while it waits in the queue is handed out again, as it is
// now, without waiting for a rescan (there is none here).
func TestWatcherRetracksHandedOutFile(t *testing.T) {
	dir := t.TempDir()
	out := startWatcher(t, newTestWatcher(dir, 100*time.Millisecond, 0))
	path := filepath.Join(dir, "a.json")
	touch(t, path, "first")
	time.Sleep(400 * time.Millisecond) // settled and queued; nobody reads yet
	tmp := filepath.Join(dir, ".a.json.new")
	touch(t, tmp, "second, longer")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	stale := <-out
	if stale.size != int64(len("first")) {
		t.Fatalf("first hand-out %+v", stale)
	}
	select {
	case got := <-out:
		if got.name != "a.json" || got.size != int64(len("second, longer")) {
			t.Fatalf("second hand-out %+v", got)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the replaced file was never handed out again")
	}
}
