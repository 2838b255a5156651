package testenv

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// NATSServerBinary is the nats-server for the fleet tests: $HRMD_NATS_SERVER
// (./build.sh test sets it), else the one ./build.sh deps installed. Without
// one the test is skipped, except in CI (HRMD_REQUIRE_JETSON_TESTS).
func NATSServerBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("HRMD_NATS_SERVER")
	if bin == "" {
		bin = filepath.Join(RepoRoot(t), ".cache", "bin", "nats-server")
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("HRMD_REQUIRE_JETSON_TESTS") != "" {
			t.Fatalf("no nats-server (%v), and CI requires the fleet tests: ./build.sh deps installs it", err)
		}
		t.Skipf("no nats-server (%v): ./build.sh deps installs it", err)
	}
	return bin
}

// NATS is one real nats-server with JetStream on 127.0.0.1, stopped when
// the test ends; it keeps its port and store across a Kill and Start.
type NATS struct {
	t         testing.TB
	bin, conf string
	base      string // the config without StartNATS's extra
	URL       string
	monitor   string
	cmd       *exec.Cmd
}

// StartNATS starts a nats-server; extra is more of its config
// (max_payload: 8MB, say).
func StartNATS(t testing.TB, extra string) *NATS {
	t.Helper()
	bin := NATSServerBinary(t)
	dir := t.TempDir()
	port, mon := freePort(t), freePort(t)
	conf := filepath.Join(dir, "nats.conf")
	base := fmt.Sprintf("listen: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\njetstream { store_dir: %q }\n", port, mon, filepath.Join(dir, "js"))
	if err := os.WriteFile(conf, []byte(base+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &NATS{t: t, bin: bin, conf: conf, base: base, URL: fmt.Sprintf("nats://127.0.0.1:%d", port), monitor: fmt.Sprintf("http://127.0.0.1:%d", mon)}
	t.Cleanup(n.Kill)
	n.Start()
	return n
}

// Start starts the server (again) and waits until it is healthy.
func (n *NATS) Start() {
	n.t.Helper()
	n.cmd = exec.Command(n.bin, "-c", n.conf)
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(n.monitor + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("nats-server (%s) not healthy in 30 s: %v", n.conf, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Configure gives the server extra in place of the config it had beside
// its listen, monitoring and JetStream lines, from its next start or
// Reload.
func (n *NATS) Configure(extra string) {
	n.t.Helper()
	if err := os.WriteFile(n.conf, []byte(n.base+extra), 0o644); err != nil {
		n.t.Fatal(err)
	}
}

// Reload configures the running server with extra and has it read its
// config again (SIGHUP), as an operator changing authorization would.
func (n *NATS) Reload(extra string) {
	n.t.Helper()
	n.Configure(extra)
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		n.t.Fatal(err)
	}
}

// Monitor reads the server's monitoring endpoint path (/connz?state=closed,
// say) into v.
func (n *NATS) Monitor(path string, v any) error {
	resp, err := http.Get(n.monitor + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Signal sends sig to the running server: SIGSTOP hangs it as a power
// cut or a pulled cable would (nothing resets its connections), SIGCONT
// ends that.
func (n *NATS) Signal(sig syscall.Signal) {
	n.t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		n.t.Fatal(err)
	}
}

// Kill stops the server with SIGKILL, as a crash would.
func (n *NATS) Kill() {
	if n.cmd != nil && n.cmd.Process != nil {
		n.cmd.Process.Kill()
		n.cmd.Wait()
		n.cmd = nil
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
