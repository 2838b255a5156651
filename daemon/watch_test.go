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
