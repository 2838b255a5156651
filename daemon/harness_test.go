package daemon_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/internal/testenv"
)

// hrmdBin is the real hrmd, built once for the tests that run it as a process.
var hrmdBin string

func TestMain(m *testing.M) { os.Exit(hrmdtest.Main(m, &hrmdBin)) }

// The bundles the tests use, as seen from this folder.
var (
	tinyBundle = filepath.Join("..", "engine", "testdata", "nova-tiny")
	// zeroBundle is nova-tiny with its output forced to colour 0.
	zeroBundle = filepath.Join("..", "engine", "testdata", "nova-zero")
	demoBundle = filepath.Join("..", "engine", "models", "demo")
	// actBundle is the tiny act-v1, with a puzzle table.
	actBundle = filepath.Join("..", "engine", "testdata", "act-v1-tiny")
)

func runHrmd(t *testing.T, args ...string) hrmdtest.Result {
	t.Helper()
	return hrmdtest.Run(t, hrmdtest.Command(t, hrmdBin, args...))
}

// spoolUnderTest is a temporary inbox, outbox and spool with a config for a
// daemon: a real `hrmd run` process, or Run in the test's own process.
type spoolUnderTest struct {
	t                                 *testing.T
	dir, config                       string
	inbox, outbox, work, done, failed string
	args                              []string // more flags for hrmd run
	sysroot                           string   // the device's files, if not "/" (--sysroot)
}

// newSpool writes a config: the tiny model on CPU, HTTP on a free port, JSON
// logs, short settle and rescan times; edit changes it further.
func newSpool(t *testing.T, edit func(*config.Config)) *spoolUnderTest {
	t.Helper()
	dir := t.TempDir()
	model, err := filepath.Abs(tinyBundle)
	if err != nil {
		t.Fatal(err)
	}
	cfg := hrmdtest.Config(dir, "test", model)
	if edit != nil {
		edit(&cfg)
	}
	l := cfg.Layout("test")
	s := &spoolUnderTest{t: t, dir: dir, config: filepath.Join(dir, "hrmd.yaml"),
		inbox: l.Inbox, outbox: l.Outbox, work: l.Work(), done: l.Done(), failed: l.Failed()}
	s.writeConfig(cfg)
	return s
}

func (s *spoolUnderTest) writeConfig(cfg config.Config) {
	s.t.Helper()
	if err := hrmdtest.WriteConfig(s.config, cfg); err != nil {
		s.t.Fatal(err)
	}
}

// drop puts a file into the inbox the way a careful writer does.
func (s *spoolUnderTest) drop(name string, data []byte) {
	s.t.Helper()
	if err := hrmdtest.Drop(s.inbox, name, data); err != nil {
		s.t.Fatal(err)
	}
}

// start starts `hrmd run` on the spool as instance "test"; env is more of
// its environment.
func (s *spoolUnderTest) start(env ...string) *hrmdtest.Daemon {
	s.t.Helper()
	args := s.args
	if s.sysroot != "" {
		args = append([]string{"--sysroot", s.sysroot}, args...)
	}
	return hrmdtest.StartDaemon(s.t, hrmdtest.Options{Bin: hrmdBin, Config: s.config, Instance: "test",
		ShutdownTimeout: 10 * time.Second, Args: args, Env: hrmdtest.TestEnv(s.t, env...)})
}

// inProcess is a daemon run by daemon.Run in the test's own process, so
// that the race detector sees its goroutines, and watched as a process is:
// its log's events, /metrics, /readyz. It takes no signals: stop ends it
// as SIGTERM does.
type inProcess struct {
	*hrmdtest.Daemon
	t       *testing.T
	d       *daemon.Daemon
	cancel  context.CancelCauseFunc
	before  goleak.Option // the goroutines there were before it started
	stopped bool
	err     error // Run's, set before the log ends
}

// startInProcess runs the daemon on the spool as instance "test", as
// `hrmd run` does: the config loaded from its file, the log in JSON. Unless
// the test stopped it, it is stopped when the test ends.
func (s *spoolUnderTest) startInProcess() *inProcess {
	s.t.Helper()
	s.t.Setenv(engine.LibraryEnv, testenv.ORTLibrary(s.t)) // as hrmdtest.TestEnv gives a process
	cfg, err := config.Load(s.config)
	if err != nil {
		s.t.Fatal(err)
	}
	sysroot := cmp.Or(s.sysroot, "/")
	r, w, err := os.Pipe()
	if err != nil {
		s.t.Fatal(err)
	}
	d, err := daemon.New(daemon.Options{ConfigPath: s.config, Config: cfg, Instance: "test",
		ShutdownTimeout: 10 * time.Second, Sysroot: sysroot, Version: "test", Log: w})
	if err != nil {
		r.Close()
		w.Close()
		s.t.Fatal(err)
	}
	p := &inProcess{t: s.t, d: d, before: goleak.IgnoreCurrent()}
	ctx, cancel := context.WithCancelCause(context.Background())
	p.cancel = cancel
	returned := make(chan error, 1)
	go func() {
		err := d.Run(ctx)
		w.Close()
		returned <- err
	}()
	p.Daemon = hrmdtest.FollowDaemon(s.t, r, func() string {
		p.err = <-returned
		return fmt.Sprintf("Run returned %v", p.err)
	})
	s.t.Cleanup(func() {
		if !p.stopped {
			p.stop()
		}
	})
	return p
}

// stop ends Run's context as the command does on SIGTERM and waits for Run
// to return: the test fails if it returns an error, or leaves a goroutine
// running.
func (p *inProcess) stop() {
	p.t.Helper()
	p.stopped = true
	p.cancel(errors.New("terminated"))
	select {
	case <-p.Exited():
	case <-time.After(60 * time.Second):
		p.t.Fatalf("Run has not returned a minute after its context ended; its log: %s", p.LogPath())
	}
	if p.err != nil {
		p.t.Errorf("Run returned %v after its context ended", p.err)
	}
	// A goroutine may still be on its way out (a closed HTTP connection's).
	err := hrmdtest.Wait("no goroutine left of the daemon's", time.Minute, func() (bool, string) {
		if err := goleak.Find(p.before); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	if err != nil {
		p.t.Errorf("after Run returned: %v", err)
	}
}

// notifySocket listens where the daemon sends its sd_notify messages.
type notifySocket struct {
	path string
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd") // a short path: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &notifySocket{path: filepath.Join(dir, "notify")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, strings.Split(strings.TrimSpace(string(buf[:k])), "\n")...)
			n.mu.Unlock()
		}
	}()
	return n
}

func (n *notifySocket) messages() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

// settled returns every message sent before it was called, the marker it
// sends left out. A daemon that has exited sent its last datagrams before
// exiting, but the reading goroutine may not have taken them from the
// socket yet; the socket keeps order, so once the marker is read, all that
// came before it has been too.
func (n *notifySocket) settled(t *testing.T) []string {
	t.Helper()
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const marker = "TEST_SETTLED=1"
	if _, err := conn.Write([]byte(marker)); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "the notify socket's own marker", func() bool {
		return index(n.messages(), marker) >= 0
	})
	return slices.DeleteFunc(n.messages(), func(m string) bool { return m == marker })
}

// index returns the position of the first message with prefix, or -1.
func index(msgs []string, prefix string) int {
	return slices.IndexFunc(msgs, func(m string) bool { return strings.HasPrefix(m, prefix) })
}
