package hrmdtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hrmd/hrmd/internal/testenv"
)

// NATSServerBinary is the nats-server for the fleet tests: $HRMD_NATS_SERVER
// (./build.sh test sets it), else the one ./build.sh deps installed. Without
// one the test is skipped, except in CI (HRMD_REQUIRE_JETSON_TESTS).
func NATSServerBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("HRMD_NATS_SERVER")
	if bin == "" {
		bin = filepath.Join(testenv.RepoRoot(t), ".cache", "bin", "nats-server")
	}
	abs, err := filepath.Abs(bin)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		if os.Getenv("HRMD_REQUIRE_JETSON_TESTS") != "" {
			t.Fatalf("no nats-server (%v), and CI requires the fleet tests: ./build.sh deps installs it", err)
		}
		t.Skipf("no nats-server (%v): ./build.sh deps installs it", err)
	}
	return abs
}

// NATSServer is one nats-server process with JetStream on 127.0.0.1, its
// config, store and log in a folder of its own. Its ports stay the same
// across restarts: a cluster's routes name them.
type NATSServer struct {
	Bin, Name, Dir, Config, LogPath string
	ClientPort, HTTPPort, RoutePort int
	// Routes are the cluster's routes (its own among them, which
	// nats-server ignores); nil for a server alone.
	Routes []string
	// Extra is more of its config: max_payload, an authorization block.
	Extra string
	// Written: Config is a file of the caller's, not one WriteConfig writes.
	Written bool

	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has ended
	state  *os.ProcessState
	starts int
	killed bool // by the driver: its exit is no failure
	client *http.Client
}

// NewNATSServer is a server named name in dir, on free ports, not started.
func NewNATSServer(bin, dir, name string) (*NATSServer, error) {
	ports, err := FreePorts(3)
	if err != nil {
		return nil, err
	}
	s := &NATSServer{Bin: bin, Name: name, Dir: dir, ClientPort: ports[0], HTTPPort: ports[1], RoutePort: ports[2]}
	s.Config, s.LogPath = filepath.Join(dir, "nats.conf"), filepath.Join(dir, "nats-server.log")
	return s, nil
}

// URL is the server's client URL.
func (s *NATSServer) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.ClientPort) }

// WriteConfig writes the server's config: its ports, JetStream with a
// store of its own, monitoring for /healthz; in a cluster, its routes and
// max_payload 8MB, which hrmd needs for a 4 MiB task with its headers (the
// default is 1 MB); then Extra.
func (s *NATSServer) WriteConfig() error {
	if s.Written {
		return nil
	}
	store := filepath.Join(s.Dir, "store")
	if err := os.MkdirAll(store, 0o755); err != nil {
		return fmt.Errorf("nats-server %s's folder: %w", s.Name, err)
	}
	conf := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n", s.Name, s.ClientPort, s.HTTPPort)
	if s.Routes == nil {
		conf += fmt.Sprintf("jetstream { store_dir: %q }\n", store)
	} else {
		conf += fmt.Sprintf(`max_payload: 8MB
jetstream {
  store_dir: %q
  max_memory_store: 256MB
  max_file_store: 1GB
}
cluster {
  name: hrmdtest
  listen: 127.0.0.1:%d
  routes: [
    %s
  ]
}
`, store, s.RoutePort, strings.Join(s.Routes, "\n    "))
	}
	if err := os.WriteFile(s.Config, []byte(conf+s.Extra+"\n"), 0o644); err != nil {
		return fmt.Errorf("nats-server %s's config: %w", s.Name, err)
	}
	return nil
}

// Start starts the server on its config, its output appended to its log.
func (s *NATSServer) Start() error {
	if err := s.WriteConfig(); err != nil {
		return err
	}
	log, err := os.OpenFile(s.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("nats-server %s's log: %w", s.Name, err)
	}
	s.starts++
	fmt.Fprintf(log, "--- hrmdtest: start #%d at %s\n", s.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.Bin, "--config", s.Config)
	cmd.Stdout, cmd.Stderr = log, log
	// Should the driver die, the servers die with it, as its daemons do.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start nats-server %s (%s): %w", s.Name, s.Bin, err)
	}
	s.cmd, s.exited, s.killed = cmd, make(chan struct{}), false
	go func() {
		cmd.Wait()
		log.Close()
		s.state = cmd.ProcessState
		close(s.exited)
	}()
	return nil
}

// Running reports whether the server was started and has not ended.
func (s *NATSServer) Running() bool {
	if s.exited == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Signal sends sig to the running server: SIGHUP has it read its config
// again; SIGSTOP hangs it as a power cut or a pulled cable would (nothing
// resets its connections), SIGCONT ends that; SIGUSR2 is lame duck mode.
func (s *NATSServer) Signal(sig syscall.Signal) error {
	if err := s.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s to nats-server %s: %w", sig, s.Name, err)
	}
	return nil
}

// Reload writes the server's config again (Extra changed) and has it read
// it (SIGHUP), as an operator would.
func (s *NATSServer) Reload() error {
	if err := s.WriteConfig(); err != nil {
		return err
	}
	return s.Signal(syscall.SIGHUP)
}

// WaitExit waits for the server to end and returns how it did.
func (s *NATSServer) WaitExit(timeout time.Duration) (*os.ProcessState, error) {
	select {
	case <-s.exited:
		return s.state, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("nats-server %s (pid %d) still there %s later", s.Name, s.cmd.Process.Pid, timeout)
	}
}

// Kill9 kills the server with SIGKILL and waits for it to be gone.
func (s *NATSServer) Kill9() error {
	s.killed = true
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGKILL to nats-server %s: %w", s.Name, err)
	}
	_, err := s.WaitExit(60 * time.Second)
	return err
}

// Died is an error when the server exited without being killed by the
// driver (nil while it runs, or when it was).
func (s *NATSServer) Died() error {
	if s.exited == nil || s.killed || s.Running() {
		return nil
	}
	return fmt.Errorf("nats-server %s exited (%v) on its own; its log: %s", s.Name, s.state, s.LogPath)
}

// Monitor reads a monitoring endpoint (/jsz, /connz?state=closed) into v
// (a JSON body; v may be nil) and returns the status code.
func (s *NATSServer) Monitor(path string, v any) (int, error) {
	if s.client == nil {
		s.client = &http.Client{Timeout: 5 * time.Second}
	}
	resp, err := s.client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", s.HTTPPort, path))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && v != nil && resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		return resp.StatusCode, fmt.Errorf("nats-server %s %s: %w", s.Name, path, err)
	}
	return resp.StatusCode, nil
}

// healthy reports whether /healthz answers 200 (and what it answered).
func (s *NATSServer) healthy() (bool, string) {
	code, err := s.Monitor("/healthz", nil)
	if err != nil {
		return false, err.Error()
	}
	return code == http.StatusOK, fmt.Sprintf("/healthz %d", code)
}

// WaitHealthy waits until /healthz answers 200: JetStream is up there.
func (s *NATSServer) WaitHealthy(timeout time.Duration) error {
	err := Wait(fmt.Sprintf("nats-server %s healthy", s.Name), timeout, func() (bool, string) {
		if s.Died() != nil {
			return true, ""
		}
		return s.healthy()
	})
	if died := s.Died(); err == nil && died != nil {
		return died
	}
	return err
}
