package hrmdtest

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Daemon is a Process started (or followed) by a test: what fails fails
// the test, and a daemon process is killed when the test ends, its log
// printed if it failed.
type Daemon struct {
	*Process
	t testing.TB
}

// StartDaemon starts a daemon for a test. Its log goes to a file in a
// temporary folder unless o.Log names one; its environment is TestEnv's
// unless o.Env gives one.
func StartDaemon(t testing.TB, o Options) *Daemon {
	t.Helper()
	if o.Log == "" {
		o.Log = filepath.Join(t.TempDir(), "hrmd.log")
	}
	if o.Env == nil {
		o.Env = TestEnv(t)
	}
	p, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	return newDaemon(t, p)
}

// FollowDaemon watches a daemon that runs in the test's own process, as
// Follow does; its log is copied to a file in a temporary folder. Stopping
// it is the caller's: when the test ends, its log is printed if it failed.
func FollowDaemon(t testing.TB, log io.ReadCloser, ended func() string) *Daemon {
	t.Helper()
	p, err := Follow(log, filepath.Join(t.TempDir(), "hrmd.log"), ended)
	if err != nil {
		t.Fatal(err)
	}
	return newDaemon(t, p)
}

// newDaemon makes p a test's: killed when the test ends (if it is a
// process), its log printed if the test failed.
func newDaemon(t testing.TB, p *Process) *Daemon {
	t.Cleanup(func() {
		if p.Running() && p.Pid() != 0 {
			p.Kill9()
		}
		if t.Failed() {
			log, _ := os.ReadFile(p.LogPath())
			t.Logf("hrmd log:\n%s", strings.TrimSuffix(string(log), "\n"))
		}
	})
	return &Daemon{Process: p, t: t}
}

// WaitEvent waits for the n-th line with the event and returns it.
func (d *Daemon) WaitEvent(event string, n int, timeout time.Duration) Line {
	d.t.Helper()
	l, err := d.Process.WaitEvent(event, n, timeout)
	if err != nil {
		d.t.Fatal(err)
	}
	return l
}

// WaitFor polls cond until it holds.
func (d *Daemon) WaitFor(what string, timeout time.Duration, cond func() bool) {
	d.t.Helper()
	if err := d.Process.WaitFor(what, timeout, cond); err != nil {
		d.t.Fatal(err)
	}
}

// Signal sends sig to the daemon.
func (d *Daemon) Signal(sig syscall.Signal) {
	d.t.Helper()
	if err := d.Process.Signal(sig); err != nil {
		d.t.Fatal(err)
	}
}

// WaitExit waits for the process to end and returns its exit code.
func (d *Daemon) WaitExit(timeout time.Duration) int {
	d.t.Helper()
	code, err := d.Process.WaitExit(timeout)
	if err != nil {
		d.t.Fatal(err)
	}
	return code
}

// Get fetches a path from the daemon's HTTP endpoint, once it listens.
func (d *Daemon) Get(path string) (int, string) {
	d.t.Helper()
	if d.Addr() == "" {
		d.WaitEvent("http_listening", 1, time.Minute)
	}
	code, body, err := d.Process.Get(path)
	if err != nil {
		d.t.Fatal(err)
	}
	return code, body
}

// Sample is the value of one sample of /metrics ("name{labels}") as
// written, "" when there is none.
func (d *Daemon) Sample(sample string) string {
	d.t.Helper()
	if d.Addr() == "" {
		d.WaitEvent("http_listening", 1, time.Minute)
	}
	v, err := d.Process.Sample(sample)
	if err != nil {
		d.t.Fatal(err)
	}
	return v
}

// Log is the daemon's log so far.
func (d *Daemon) Log() string {
	var b strings.Builder
	for _, l := range d.Lines() {
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}
