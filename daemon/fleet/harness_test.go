package fleet_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
)

// hrmdBin is the real hrmd, built once: a fleet's members are processes.
var hrmdBin string

func TestMain(m *testing.M) { os.Exit(hrmdtest.Main(m, &hrmdBin)) }

// The bundles the tests use, as seen from this folder.
var (
	tinyBundle = filepath.Join("..", "..", "engine", "testdata", "nova-tiny")
	// zeroBundle is nova-tiny with its output forced to colour 0.
	zeroBundle = filepath.Join("..", "..", "engine", "testdata", "nova-zero")
)

// spoolUnderTest is a temporary inbox, outbox and spool with a config for a
// real `hrmd run` process.
type spoolUnderTest struct {
	t                                 *testing.T
	dir, config                       string
	inbox, outbox, work, done, failed string
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
	if err := hrmdtest.WriteConfig(s.config, cfg); err != nil {
		t.Fatal(err)
	}
	return s
}

// drop puts a file into the inbox the way a careful writer does.
func (s *spoolUnderTest) drop(name string, data []byte) {
	s.t.Helper()
	if err := hrmdtest.Drop(s.inbox, name, data); err != nil {
		s.t.Fatal(err)
	}
}

// start starts `hrmd run` on the spool as instance "test".
func (s *spoolUnderTest) start() *hrmdtest.Daemon {
	s.t.Helper()
	return hrmdtest.StartDaemon(s.t, hrmdtest.Options{Bin: hrmdBin, Config: s.config, Instance: "test",
		ShutdownTimeout: 10 * time.Second, Env: hrmdtest.TestEnv(s.t)})
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// stopCleanly stops p with SIGTERM and wants it to exit 0.
func stopCleanly(t *testing.T, p *hrmdtest.Daemon) {
	t.Helper()
	p.Signal(syscall.SIGTERM)
	if code := p.WaitExit(30 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}
