package daemon_test

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
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
// real `hrmd run` process.
type spoolUnderTest struct {
	t                                 *testing.T
	dir, config                       string
	inbox, outbox, work, done, failed string
	args                              []string // more flags for hrmd run
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
	return hrmdtest.StartDaemon(s.t, hrmdtest.Options{Bin: hrmdBin, Config: s.config, Instance: "test",
		ShutdownTimeout: 10 * time.Second, Args: s.args, Env: hrmdtest.TestEnv(s.t, env...)})
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

// index returns the position of the first message with prefix, or -1.
func index(msgs []string, prefix string) int {
	return slices.IndexFunc(msgs, func(m string) bool { return strings.HasPrefix(m, prefix) })
}
